"""Download the public reference data listed in ``reference_data/manifest.json``.

The repository holds no copy of the data, only the manifest: for each file its path inside the
data folder, its SHA-256 and one or more public sources (a source may carry its own checksum
when it serves a different copy of the file). Files already present with the right checksum
are kept; downloads go to a temporary file that is renamed only after the checksum matched.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from latdyn.errors import DataError, InputError
from latdyn.files import atomic_path

#: Where the manifest lives in a source checkout.
DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "reference_data" / "manifest.json"

_CHUNK = 1 << 20


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
        if not {"path", "sha256", "sources"} <= set(entry):
            raise DataError(f"manifest {path}: entry {entry!r} lacks path, sha256 or sources")
    return manifest


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _expected(entry: dict, source: dict) -> tuple[str, str]:
    for algorithm in ("sha256", "md5"):
        if algorithm in source:
            return algorithm, source[algorithm]
    return "sha256", entry["sha256"]


def _verified(path: Path, entry: dict) -> bool:
    """Whether ``path`` has the checksum of the entry or of one of its sources."""
    expected = {_expected(entry, source) for source in entry["sources"]}
    expected.add(("sha256", entry["sha256"]))
    return any(file_digest(path, algorithm) == checksum for algorithm, checksum in expected)


def _download(url: str, target: Path, algorithm: str, checksum: str, timeout: float) -> None:
    with atomic_path(target) as tmp:
        digest = hashlib.new(algorithm)
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != checksum:
            raise DataError(f"{url} gave a file with {algorithm} {digest.hexdigest()}, "
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
    downloaded, present = [], []
    for entry in manifest.get("files", []):
        if only and not entry["path"].startswith(only):
            continue
        target = data_dir / entry["path"]
        if target.exists() and _verified(target, entry):
            present.append(entry["path"])
            continue
        errors = []
        for source in entry["sources"]:
            algorithm, checksum = _expected(entry, source)
            try:
                _download(source["url"], target, algorithm, checksum, timeout)
            except (urllib.error.URLError, OSError, DataError) as exc:
                errors.append(f"{source['url']}: {getattr(exc, 'reason', exc)}")
                continue
            downloaded.append(entry["path"])
            break
        else:
            raise DataError(f"cannot download {entry['path']} ({'; '.join(errors)}); check the "
                            f"network, or copy the files into {data_dir} by hand")
    return FetchReport(data_dir=data_dir, downloaded=tuple(downloaded), present=tuple(present))
