"""Atomic file writes and output folders.

A file is written to a temporary file in the same folder, then renamed. A run's output files
are written into a staging folder beside ``--out`` and moved in together at the end
(:func:`staged_output`), so an interrupted run never leaves a file, or a folder, that looks
complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``path`` only when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically. NumPy values are converted."""
    with atomic_open(path, "w") as handle:
        json.dump(to_jsonable(data), handle, indent=2)
        handle.write("\n")


def to_jsonable(value: Any) -> Any:
    """Convert NumPy scalars/arrays, paths and tuples into plain JSON types."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN is not valid JSON
        return None
    return value


#: The file whose presence marks a complete run in an output folder.
SUMMARY_NAME = "summary.json"

#: Folders no output may go under.
_SYSTEM_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def check_writable_folder(path: str | os.PathLike, what: str) -> None:
    """Raise :class:`~latdyn.errors.InputError` unless ``path`` is, or can become, a folder we can
    write into. Creates nothing: probes the nearest existing folder with a temporary folder."""
    from latdyn.errors import InputError

    path = Path(path).expanduser()
    absolute = Path(os.path.abspath(path))
    if any(absolute == root or root in absolute.parents for root in _SYSTEM_ROOTS):
        raise InputError(f"{what} {path} is under {absolute.parts[0]}{absolute.parts[1]}, "
                         "which holds no ordinary files; choose a folder elsewhere")
    existing = absolute
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        blocker = "is a file" if existing == absolute else f"is under the file {existing}"
        raise InputError(f"{what} {path} {blocker}, not a folder; choose another path")
    try:
        probe = tempfile.mkdtemp(dir=existing, prefix=".latdyn-probe-")
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot write into {existing} ({exc.strerror}); choose "
                         "a writable folder") from None
    os.rmdir(probe)


@contextlib.contextmanager
def staged_output(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out``; when the block succeeds, move its files in.

    The previous run's ``summary.json`` (the mark of a complete run) is removed first, with the
    files it lists that this run does not write; the new files are moved in one by one (each
    an atomic rename), ``summary.json`` last. If the block fails, nothing in ``out`` changes.
    Files of ``out`` that no run listed (a resumable store, the user's own files) are kept.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        yield stage
        out.mkdir(exist_ok=True)
        new = sorted(p.name for p in stage.iterdir())
        _remove_previous_run(out, keep=set(new) | set(_listed_outputs(stage)))
        for name in sorted(new, key=lambda n: n == SUMMARY_NAME):
            os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _listed_outputs(folder: Path) -> list[str]:
    try:
        outputs = json.loads((folder / SUMMARY_NAME).read_text()).get("outputs") or []
    except (OSError, ValueError, AttributeError):
        return []
    return [str(name) for name in outputs if isinstance(name, str)]


def _remove_previous_run(out: Path, keep: set[str]) -> None:
    """Remove ``out/summary.json``, then the plain files it listed that are not in ``keep``."""
    previous = _listed_outputs(out)
    with contextlib.suppress(FileNotFoundError):
        (out / SUMMARY_NAME).unlink()
    for name in previous:
        path = out / name
        if name not in keep and Path(name).name == name and path.is_file():
            path.unlink()
