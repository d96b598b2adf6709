"""``latdyn conservation POSCAR``: does the model conserve energy in NVE molecular dynamics?"""

from __future__ import annotations

import argparse

from latdyn.cli.options import (
    add_common_options,
    add_progress_options,
    add_structure_argument,
    add_supercell_options,
    model_settings_from,
    positive_float,
    supercell_values,
)
from latdyn.cli.symmetrize_options import add_symmetrize_options


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="energy conservation in NVE MD (drift, verdict) and the FC2 asymmetry",
        description="Run velocity-Verlet NVE molecular dynamics on a supercell from seeded "
        "Maxwell-Boltzmann velocities and report the total-energy drift (meV/atom/ps, linear "
        "fit) and fluctuation, the temperature, and PASS if |drift| is below the threshold "
        "(default 1 meV/atom/ps). Separately, the static signal ||Φ − Φᵀ||/||Φ|| of "
        "finite-difference force constants is flagged at or above its threshold (1e-3 for "
        "float64 models, 1e-2 for float32); it does not change the verdict, since the "
        "finite-difference noise of float32 forces can exceed it while energy is conserved. "
        "Writes energy_trace.csv, energy_trace.png and summary.json. The "
        "structure is used as given: relax it first for a clean start.",
    )
    add_structure_argument(parser)
    group = parser.add_argument_group("molecular dynamics")
    group.add_argument("--temperature", "--temperatures", dest="temperature",
                       type=positive_float, default=300.0, metavar="T",
                       help="target temperature, K; velocities are drawn at twice it "
                       "(alias --temperatures with one value; default: %(default)s)")
    group.add_argument("--steps", type=int, default=500,
                       help="velocity-Verlet steps (default: %(default)s)")
    group.add_argument("--timestep", type=positive_float, default=1.0,
                       help="time step, fs (default: %(default)s)")
    add_supercell_options(group, relative_to="the input cell",
                          automatic="smallest diagonal multiple with all face-to-face widths "
                          "at least this")
    group.add_argument("--seed", type=int, default=0,
                       help="seed of the initial velocities (default: %(default)s)")
    group.add_argument("--threshold", type=positive_float, default=1.0,
                       help="largest |drift| that passes, meV/atom/ps (default: %(default)s)")
    group.add_argument("--asymmetry-threshold", type=positive_float, default=None,
                       help="||Φ − Φᵀ||/||Φ|| from which the static check flags the model "
                       "(default: 1e-3 for float64 models, 1e-2 for float32 ones)")
    group.add_argument("--no-static-check", action="store_true",
                       help="skip the finite-difference force-constant asymmetry")
    add_progress_options(group)
    add_symmetrize_options(parser)
    add_common_options(parser, default_out="latdyn-conservation")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from latdyn.dynamics import ConservationSettings, run_conservation
    from latdyn.dynamics.output import write_conservation_run
    from latdyn.provenance import file_sha256
    from latdyn.structure import read_structure

    settings = ConservationSettings(
        model=model_settings_from(args), temperature=args.temperature, steps=args.steps,
        timestep=args.timestep, supercell=supercell_values(args.supercell),
        min_length=args.min_length, seed=args.seed, threshold=args.threshold,
        asymmetry_threshold=args.asymmetry_threshold,
        static_check=not args.no_static_check, progress=not args.no_progress,
    )
    atoms = read_structure(args.structure, index=args.index)
    result = run_conservation(atoms, settings)
    inputs = {"structure": str(args.structure), "structure_sha256": file_sha256(args.structure),
              "index": args.index}
    summary = write_conservation_run(result, args.out, inputs)
    print_report(summary, args.out)
    return 0


def print_report(summary: dict, out) -> None:
    conservation = summary["conservation"]
    temperature = summary["temperature_K"]
    static = summary["static_check"]
    print(f"model {summary['model']['name']}  supercell {summary['supercell']['n_atoms']} atoms  "
          f"{summary['settings']['steps']} steps of {summary['settings']['timestep']:g} fs")
    drift_flag = "ok" if conservation["drift_passed"] else "TOO LARGE"
    print(f"drift {conservation['drift_meV_per_atom_per_ps']:.4g} ± "
          f"{conservation['drift_stderr_meV_per_atom_per_ps']:.2g} meV/atom/ps ({drift_flag}, "
          f"threshold {conservation['threshold_meV_per_atom_per_ps']:g}), fluctuation "
          f"{conservation['fluctuation_meV_per_atom']:.3g} meV/atom, mean T "
          f"{temperature['mean_second_half']:.0f} K")
    print(f"{conservation['verdict']} (drift-based)")
    if static["raw_permutation_asymmetry"] is not None:
        static_flag = "FLAGGED" if static["flagged"] else "not flagged"
        print(f"static check ||Φ − Φᵀ||/||Φ|| = {static['raw_permutation_asymmetry']:.3g} "
              f"({static_flag}, threshold {static['threshold']:g}; not part of the verdict)")
    print(f"results in {out}/")
