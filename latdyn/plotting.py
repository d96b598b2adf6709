"""Shared figure helpers: a headless pyplot and atomic saving in several formats."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from latdyn.files import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported lazily)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, paths: str | Path | Sequence[str | Path], dpi: int = 150) -> list[Path]:
    """Save ``fig`` to each path (format from the suffix, PNG if none), atomically."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    written = []
    for path in map(Path, paths):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi)
        written.append(path)
    return written


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers (``20``, ``0.5``) instead of ``2×10¹``."""
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda value, _: f"{value:g}")
    axis.set_major_formatter(formatter)
    axis.set_minor_formatter(formatter)


def finish_figure(fig, paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Lay out ``fig``, save it to each of ``paths`` (see :func:`save_figure`) and close it."""
    fig.tight_layout()
    written = save_figure(fig, paths)
    pyplot().close(fig)
    return written
