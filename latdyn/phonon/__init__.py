"""Harmonic phonons: bands, DOS, thermal properties and imaginary-mode reports."""

from latdyn.phonon.phonons import ImaginaryModes, Phonons, PhononSettings, run_phonons

__all__ = ["ImaginaryModes", "PhononSettings", "Phonons", "run_phonons"]
