"""``latdyn phonons POSCAR``: harmonic phonons from an MLIP."""

from __future__ import annotations

import argparse

from latdyn.cli.options import (
    add_common_options,
    add_force_options,
    add_structure_options,
    displacement_float,
    positive_float,
    refuse_ignored,
    relax_ignored,
    supercell_values,
)
from latdyn.cli.symmetrize_options import add_symmetrize_options


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="harmonic phonons: bands, DOS, thermal properties",
        description="Relax a crystal with an MLIP, compute finite-displacement force sets, fit "
        "FC2 with symfc (sum rules enforced) and write bands, DOS, thermal properties, a "
        "band+DOS figure, phonopy_params.yaml and summary.json.",
    )
    add_structure_options(parser)
    group = parser.add_argument_group("phonons")
    group.add_argument("--supercell", type=int, nargs="+", metavar="N",
                       help="3 or 9 integers relative to the standardized primitive cell "
                       "(default: automatic, see --min-length)")
    group.add_argument("--min-length", type=positive_float, default=10.0,
                       help="automatic supercell: smallest multiple of the conventional cell "
                       "with all face-to-face widths at least this, Å (default: %(default)s)")
    group.add_argument("--displacement", type=displacement_float, default=0.01,
                       help="displacement amplitude, Å (default: %(default)s)")
    group.add_argument("--fc-solver", default="symfc", choices=["symfc", "traditional"],
                       help="FC2 solver (default: %(default)s)")
    group.add_argument("--mesh", type=float, nargs="+", default=[60.0],
                       help="q-mesh for DOS and thermal properties: 3 integers or a length "
                       "density in Å (default: %(default)s)")
    group.add_argument("--band-npoints", type=int, default=51,
                       help="q-points per band segment (default: %(default)s)")
    group.add_argument("--tmax", type=float, default=1000.0,
                       help="highest temperature of the thermal properties, K "
                       "(default: %(default)s)")
    group.add_argument("--tstep", type=positive_float, default=10.0,
                       help="temperature step, K (default: %(default)s)")
    add_force_options(parser)
    add_symmetrize_options(parser)
    add_common_options(parser, default_out="latdyn-phonons")
    parser.set_defaults(handler=run)


def mesh_value(values: list[float]):
    """``--mesh``: one length density or three integers."""
    from latdyn.errors import InputError

    if len(values) == 1:
        return float(values[0])
    if len(values) == 3 and all(float(v).is_integer() and v > 0 for v in values):
        return tuple(int(v) for v in values)
    raise InputError(f"--mesh needs one length or three positive integers, got {values}")


def relax_settings_from(args: argparse.Namespace):
    from latdyn.relax import RelaxSettings

    return RelaxSettings(
        fmax=args.fmax,
        max_steps=args.relax_steps,
        optimizer=args.optimizer,
        symprec=args.symprec,
        allow_symmetry_change=args.allow_symmetry_change,
    )


def input_record(args: argparse.Namespace) -> dict:
    from latdyn.provenance import file_sha256

    return {
        "structure": str(args.structure),
        "structure_sha256": file_sha256(args.structure),
        "index": args.index,
    }


def run(args: argparse.Namespace) -> int:
    from latdyn.phonon import PhononSettings
    from latdyn.structure import read_structure
    from latdyn.workflows.output import write_phonon_run
    from latdyn.workflows.phonons import PhononWorkflowSettings, run_phonon_workflow

    refuse_ignored(args, relax_ignored(args))
    settings = PhononWorkflowSettings(
        model=args.model,
        device=args.device,
        relax=not args.no_relax,
        relax_settings=relax_settings_from(args),
        supercell=supercell_values(args.supercell),
        min_length=args.min_length,
        distance=args.displacement,
        fc_solver=args.fc_solver,
        phonons=PhononSettings(band_npoints=args.band_npoints, mesh=mesh_value(args.mesh),
                               t_max=args.tmax, t_step=args.tstep),
        symprec=args.symprec,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        progress=not args.no_progress,
        symmetrize=args.symmetrize,
        rotations=args.rotations,
    )
    atoms = read_structure(args.structure, index=args.index)
    result = run_phonon_workflow(atoms, settings)
    summary = write_phonon_run(result, args.out, input_record(args))
    print_phonon_report(summary, args.out)
    return 0


def print_phonon_report(summary: dict, out) -> None:
    structure = summary["structure"]
    phonons = summary["phonons"]
    gamma = ", ".join(f"{f:.3f}" for f in phonons["gamma_frequencies_THz"])
    print(f"{structure['formula']}  space group {structure['space_group_used']}  "
          f"model {summary['model']['name']}")
    print(f"supercell {summary['supercell']['matrix']} ({summary['supercell']['n_atoms']} atoms), "
          f"{summary['displacements']['n_displaced_supercells']} displaced supercells "
          f"({summary['displacements']['n_from_cache']} from cache)")
    print(f"Γ frequencies (THz): {gamma}")
    flag = "IMAGINARY MODES" if phonons["has_imaginary_modes"] else "no imaginary modes"
    print(f"lowest frequency {phonons['lowest_frequency_THz']:.4f} THz at q="
          f"{[round(x, 4) for x in phonons['lowest_frequency_qpoint']]}: {flag}")
    timings = "  ".join(f"{k} {v:.1f}s" for k, v in summary["timings_s"].items())
    print(f"timings: {timings}")
    print(f"results in {out}/")
