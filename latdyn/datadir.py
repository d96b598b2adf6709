"""Where reference data (DFT force sets, the κSRME set) is found.

``$LATDYN_DATA_DIR`` if set, else ``$XDG_DATA_HOME/latdyn`` or ``~/.local/share/latdyn``
(where ``latdyn data fetch`` puts downloads).
"""

from __future__ import annotations

import os
from pathlib import Path

from latdyn.errors import DataError


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The reference-data folder: ``override``, ``$LATDYN_DATA_DIR`` or the user data folder."""
    if override:
        return Path(override)
    if os.environ.get("LATDYN_DATA_DIR"):
        return Path(os.environ["LATDYN_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "latdyn"


def data_file(relative: str, override: str | os.PathLike | None = None) -> Path:
    """Path of ``relative`` inside the data folder; :class:`DataError` if it is missing."""
    path = data_dir(override) / relative
    if not path.exists():
        raise DataError(
            f"reference data {relative} not found in {data_dir(override)}; set --data-dir or "
            "LATDYN_DATA_DIR, or run `latdyn data fetch`"
        )
    return path
