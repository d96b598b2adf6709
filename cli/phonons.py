"""``latdyn phonons POSCAR``: harmonic phonons from an MLIP."""

from __future__ import annotations

import argparse
import dataclasses

from latdyn.cli.options import (
    add_born_options,
    add_common_options,
    add_force_options,
    add_mesh_option,
    add_structure_options,
    add_supercell_options,
    add_temperature_options,
    born_value,
    displacement_float,
    execution_settings_from,
    mesh_value,
    model_settings_from,
    refuse_ignored,
    relax_ignored,
    relax_settings_from,
    supercell_values,
    temperatures_value,
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
    add_supercell_options(group)
    group.add_argument("--displacement", type=displacement_float, default=0.01,
                       help="displacement amplitude, Å (default: %(default)s)")
    group.add_argument("--fc-solver", default="symfc", choices=["symfc", "traditional"],
                       help="FC2 solver (default: %(default)s)")
    add_mesh_option(group, 60.0, "the DOS and thermal properties")
    group.add_argument("--band-npoints", type=int, default=51,
                       help="q-points per band segment (default: %(default)s)")
    add_temperature_options(group, "the thermal properties", (0.0, 1000.0, 10.0))
    add_born_options(group)
    add_force_options(parser)
    add_symmetrize_options(parser)
    add_common_options(parser, default_out="latdyn-phonons")
    parser.set_defaults(handler=run)


def input_record(args: argparse.Namespace, born=None) -> dict:
    from latdyn.provenance import file_sha256

    return {
        "structure": str(args.structure),
        "structure_sha256": file_sha256(args.structure),
        "index": args.index,
        "born": None if born is None else born.record(),
    }


def phonon_settings_from(args: argparse.Namespace):
    """``PhononSettings`` of ``--band-npoints``, ``--mesh`` and the temperature options."""
    from latdyn.phonon import PhononSettings

    temperatures = temperatures_value(args)
    return PhononSettings(band_npoints=args.band_npoints, mesh=mesh_value(args.mesh),
                          t_min=min(temperatures), t_max=max(temperatures),
                          temperatures=temperatures)


def run(args: argparse.Namespace) -> int:
    from latdyn.structure import read_structure
    from latdyn.workflows.output import write_phonon_run
    from latdyn.workflows.phonons import PhononWorkflowSettings, run_phonon_workflow

    refuse_ignored(args, relax_ignored(args))
    settings = PhononWorkflowSettings(
        model=model_settings_from(args),
        execution=execution_settings_from(args),
        relax=args.relax,
        relax_settings=relax_settings_from(args),
        supercell=supercell_values(args.supercell),
        min_length=args.min_length,
        distance=args.displacement,
        fc_solver=args.fc_solver,
        phonons=phonon_settings_from(args),
        symprec=args.symprec,
    )
    atoms = read_structure(args.structure, index=args.index)
    born = born_value(args, atoms, "phonons")
    settings = dataclasses.replace(settings, born=None if born is None else str(born.path))
    result = run_phonon_workflow(atoms, settings)
    summary = write_phonon_run(result, args.out, input_record(args, born))
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
