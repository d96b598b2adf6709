"""Bounds on settings, shared by the stages that enforce them and the CLI that states them.

Light on purpose (nothing imported at module level): the CLI reads these while building its
parsers.
"""

#: Smallest displacement amplitude accepted (Å). Below it the finite differences drown in the
#: rounding of positions and forces (float64 forces carry ~1e-10 eV/Å of noise, float32 MLIPs
#: ~1e-5), and displaced supercells come too close to the undisplaced one.
MIN_DISPLACEMENT = 1e-4

#: Displacement amplitudes must stay below this (Å): beyond it the harmonic fit is meaningless.
MAX_DISPLACEMENT = 0.5

#: Symmetry tolerances accepted (Å). spglib crashes (segmentation fault) for NaN and for
#: tolerances comparable to interatomic distances; 0.1 Å is already very loose.
MIN_SYMPREC = 1e-8
MAX_SYMPREC = 0.1


def check_displacement(value: float, what: str = "displacement amplitude") -> None:
    """Raise :class:`~latdyn.errors.InputError` unless ``value`` is a usable displacement (Å)."""
    if not MIN_DISPLACEMENT <= value < MAX_DISPLACEMENT:  # False for NaN too
        from latdyn.errors import InputError

        raise InputError(f"{what} must be in [{MIN_DISPLACEMENT:g}, {MAX_DISPLACEMENT:g}) Å "
                         f"(below {MIN_DISPLACEMENT:g} Å the finite differences are rounding "
                         f"noise), got {value}")


def check_symprec(value: float) -> None:
    """Raise :class:`~latdyn.errors.InputError` unless ``value`` is a usable symmetry tolerance."""
    if not MIN_SYMPREC <= value <= MAX_SYMPREC:  # False for NaN too
        from latdyn.errors import InputError

        raise InputError(f"symmetry tolerance symprec must be in [{MIN_SYMPREC:g}, "
                         f"{MAX_SYMPREC:g}] Å, got {value}")
