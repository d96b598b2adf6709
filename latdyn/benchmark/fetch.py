"""Download the public reference data listed in ``reference_data/manifest.json``.

The repository holds no copy of the data, only the manifest: for each file its path inside the
data folder, its SHA-256 and one or more public sources (a source may carry its own ``sha256``
when it serves a different copy of the file). Every path must stay inside the data folder
(relative, no ``..``) and every checksum is a SHA-256: a manifest that breaks either rule is
refused before anything is downloaded. Files already present with the right checksum are kept;
downloads go to a temporary file that is renamed only after the checksum matched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from latdyn.errors import DataError, InputError
from latdyn.files import atomic_path

#: Where the manifest lives in a source checkout.
DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "reference_data" / "manifest.json"

_CHUNK = 1 << 20

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FetchReport:
    """What ``fetch`` did.

    Attributes
    ----------
    data_dir
        The data folder.
    downloaded
        Paths (relative to ``data_dir``) downloaded now.
    present
        Paths that were already there with the right checksum.
    """

    data_dir: Path
    downloaded: tuple[str, ...]
    present: tuple[str, ...]


def read_manifest(path: str | os.PathLike | None = None) -> dict:
    """The manifest (``reference_data/manifest.json`` of the checkout by default)."""
    path = Path(path) if path is not None else DEFAULT_MANIFEST
    if not path.exists():
        raise InputError(f"manifest {path} not found; give --manifest PATH")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"manifest {path} is not valid JSON ({exc})") from None
    for entry in manifest.get("files", []):
        check_entry(entry, str(path))
    return manifest


def check_entry(entry: dict, manifest: str = "manifest") -> None:
    """Raise :class:`DataError` unless ``entry`` has a confined relative path, a SHA-256 and
    sources that carry no other kind of checksum."""
    if not isinstance(entry, dict) or not {"path", "sha256", "sources"} <= set(entry):
        raise DataError(f"{manifest}: entry {entry!r} lacks path, sha256 or sources")
    target = str(entry["path"])
    parts = Path(target).parts
    if not target or Path(target).is_absolute() or target.startswith(("/", "\\")) \
            or ".." in parts or "\\" in target:
        raise DataError(f"{manifest}: path {target!r} must be relative to the data folder, "
                        "without '..'; fix the manifest")
    checksums = [entry["sha256"]] + [source.get("sha256") for source in entry["sources"]
                                     if isinstance(source, dict) and "sha256" in source]
    for checksum in checksums:
        if not isinstance(checksum, str) or not _SHA256.fullmatch(checksum):
            raise DataError(f"{manifest}: {target}: {checksum!r} is not a SHA-256 (64 hex "
                            "digits)")
    for source in entry["sources"]:
        if not isinstance(source, dict) or "url" not in source:
            raise DataError(f"{manifest}: {target}: source {source!r} has no url")
        weak = sorted(set(source) & {"md5", "sha1"})
        if weak:
            raise DataError(f"{manifest}: {target}: source {source['url']} gives only "
                            f"{weak[0]}; give its sha256")


def _confined(data_dir: Path, relative: str) -> Path:
    """``data_dir / relative``, checked to resolve inside ``data_dir`` (symbolic links too)."""
    root = data_dir.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise DataError(f"manifest path {relative!r} leads outside the data folder {data_dir}")
    return target


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _expected(entry: dict, source: dict) -> str:
    return source.get("sha256", entry["sha256"])


def _verified(path: Path, entry: dict) -> bool:
    """Whether ``path`` has the SHA-256 of the entry or of one of its sources."""
    expected = {_expected(entry, source) for source in entry["sources"]} | {entry["sha256"]}
    return file_digest(path) in expected


def _download(url: str, target: Path, checksum: str, timeout: float) -> None:
    with atomic_path(target) as tmp:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != checksum:
            raise DataError(f"{url} gave a file with sha256 {digest.hexdigest()}, "
                            f"expected {checksum}")


def fetch(
    data_dir: str | os.PathLike,
    manifest: dict,
    only: str | None = None,
    timeout: float = 60.0,
) -> FetchReport:
    """Download every manifest file missing from ``data_dir`` (or with a wrong checksum).

    Parameters
    ----------
    only
        Fetch only paths starting with this prefix (``ksrme/``, ``dft/``).

    Raises
    ------
    DataError
        A file could not be downloaded from any of its sources (the message gives the reason,
        e.g. no network); files fetched before it are kept.
    """
    data_dir = Path(data_dir)
    entries = [entry for entry in manifest.get("files", [])
               if not only or str(entry.get("path", "")).startswith(only)]
    for entry in entries:  # the whole manifest is checked before anything is downloaded
        check_entry(entry)
        _confined(data_dir, entry["path"])
    downloaded, present = [], []
    for entry in entries:
        target = _confined(data_dir, entry["path"])
        if target.exists() and _verified(target, entry):
            present.append(entry["path"])
            continue
        errors = []
        for source in entry["sources"]:
            try:
                _download(source["url"], target, _expected(entry, source), timeout)
            except (urllib.error.URLError, OSError, DataError) as exc:
                errors.append(f"{source['url']}: {getattr(exc, 'reason', exc)}")
                continue
            downloaded.append(entry["path"])
            break
        else:
            raise DataError(f"cannot download {entry['path']} ({'; '.join(errors)}); check the "
                            f"network, or copy the files into {data_dir} by hand")
    return FetchReport(data_dir=data_dir, downloaded=tuple(downloaded), present=tuple(present))
