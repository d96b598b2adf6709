"""latdyn: phonons and lattice thermal conductivity from machine-learned interatomic potentials."""

__version__ = "0.1.0"
