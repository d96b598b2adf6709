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


def available_memory_bytes() -> int | None:
    """Memory the system can give this process now (``MemAvailable``), else its total RAM."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_mesh_memory(mesh, n_bytes: float, what: str) -> None:
    """Raise :class:`~latdyn.errors.InputError` if ``n_bytes`` (the estimate for the q-mesh
    ``mesh``, three integers) exceeds the memory available."""
    available = available_memory_bytes()
    if available is None or n_bytes <= available:
        return
    from latdyn.errors import InputError

    points = int(mesh[0]) * int(mesh[1]) * int(mesh[2])
    raise InputError(
        f"the {what} q-mesh {'x'.join(str(int(m)) for m in mesh)} ({points:.3g} q-points) needs "
        f"about {n_bytes / 1e9:.3g} GB, more than the {available / 1e9:.3g} GB available; "
        "choose a smaller --mesh")
