"""Screening many materials: discovery, a resumable SQLite store, local and Dask executors."""

from latdyn.screen.inputs import Material, discover_materials
from latdyn.screen.runner import ScreenResult, ScreenSettings, run_screen

__all__ = ["Material", "ScreenResult", "ScreenSettings", "discover_materials", "run_screen"]
