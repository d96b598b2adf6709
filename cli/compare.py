"""``latdyn compare POSCAR --dft DIR``: MLIP phonons (and κ) against a DFT dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from latdyn.cli.options import (
    add_common_options,
    add_force_options,
    add_mesh_option,
    add_relax_switch,
    add_structure_argument,
    add_temperature_options,
    execution_settings_from,
    mesh_value,
    model_settings_from,
    positive_float,
    refuse_ignored,
    temperatures_value,
)
from latdyn.cli.symmetrize_options import add_symmetrize_options


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="compare MLIP phonons and κ with a DFT phonopy/phono3py dataset",
        description="Build the DFT phonons of a phonopy or phono3py dataset and the MLIP's on "
        "the same unit cell, supercells and displaced supercells (NAC from BORN applied to "
        "both), and draw band/DOS and κ(T) overlays. The MLIP uses the DFT cell and positions "
        "as given unless --relax (positions only, fixed cell). Reports the frequency MAE/RMSE "
        "on the DOS mesh, Γ-point differences and the κ ratio at 300 K.",
    )
    add_structure_argument(parser, optional=True,
                           help_text="the dataset's unit cell (e.g. DIR/POSCAR-unitcell), "
                           "checked against the dataset; omitted: the dataset's own unit cell")
    parser.add_argument("--dft", type=Path, required=True, metavar="DIR",
                        help="folder of the DFT dataset (FORCE_SETS + phonopy_disp.yaml or "
                        "disp.yaml, FORCES_FC3 + phono3py_disp.yaml, or a phono3py params "
                        "yaml; optional BORN)")
    group = parser.add_argument_group("comparison")
    add_relax_switch(group, False, "use the DFT positions as they are (the default)",
                     "relax the atomic positions with the MLIP at the fixed DFT cell")
    group.add_argument("--fmax", type=positive_float, default=1e-4,
                       help="force convergence of --relax, eV/Å (default: %(default)g)")
    group.add_argument("--fc-solver", default="auto", choices=["auto", "symfc", "traditional"],
                       help="force-constant solver for both DFT and MLIP; auto: finite "
                       "differences, symfc for random displacements (default: %(default)s)")
    add_mesh_option(group, 60.0, "the DOS and the frequency errors")
    group.add_argument("--band-npoints", type=int, default=51,
                       help="q-points per band segment (default: %(default)s)")
    group.add_argument("--no-kappa", action="store_true",
                       help="skip κ even if the dataset has FC3 forces")
    group.add_argument("--kappa-mesh", type=int, nargs=3, default=[11, 11, 11],
                       help="q-mesh of κ (default: %(default)s)")
    add_temperature_options(group, "κ(T) and the thermal properties", (100.0, 1000.0, 50.0))
    add_force_options(parser)
    add_symmetrize_options(parser)
    add_common_options(parser, default_out="latdyn-compare")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from latdyn.compare import CompareSettings, load_dft_dataset, run_compare
    from latdyn.compare.output import write_comparison
    from latdyn.phonon import PhononSettings
    from latdyn.provenance import file_sha256
    from latdyn.relax import RelaxSettings
    from latdyn.structure import read_structure

    refuse_ignored(args, [
        ("--kappa-mesh", args.no_kappa and args.kappa_mesh != [11, 11, 11], "κ (drop --no-kappa)"),
        ("--fmax", not args.relax and args.fmax != 1e-4, "--relax"),
    ])
    temperatures = temperatures_value(args)
    settings = CompareSettings(
        model=model_settings_from(args),
        execution=execution_settings_from(args),
        relax=args.relax,
        relax_settings=RelaxSettings(fmax=args.fmax, relax_cell=False),
        fc_solver=args.fc_solver,
        phonons=PhononSettings(band_npoints=args.band_npoints, mesh=mesh_value(args.mesh),
                               projected_dos=False, t_min=min(temperatures),
                               t_max=max(temperatures), temperatures=temperatures),
        kappa=not args.no_kappa,
        kappa_mesh=tuple(args.kappa_mesh),
        temperatures=temperatures,
    )
    atoms = (read_structure(args.structure, index=args.index) if args.structure is not None
             else None)
    dataset = load_dft_dataset(args.dft)
    comparison = run_compare(atoms, dataset, settings)
    inputs = {"dft": str(args.dft), "structure": None if atoms is None else str(args.structure),
              "structure_sha256": None if atoms is None else file_sha256(args.structure),
              "index": args.index}
    summary = write_comparison(comparison, args.out, inputs)
    print_report(summary, args.out)
    return 0


def print_report(summary: dict, out: Path) -> None:
    dataset = summary["dataset"]
    freq = summary["frequencies"]
    mlip = summary["mlip"]
    print(f"{dataset['formula']} ({dataset['kind']} dataset {dataset['directory']}, "
          f"NAC {'on' if dataset['nac'] else 'off'}) vs {summary['model']['name']}")
    print(f"MLIP supercells: {mlip['n_displaced_supercells']} ({mlip['n_from_cache']} from "
          f"cache); largest residual force {mlip['max_residual_force_eV_per_A']:.4f} eV/Å")
    print(f"frequencies on the {'x'.join(map(str, freq['mesh']))} mesh: MAE "
          f"{freq['mae_THz']:.4f} THz, RMSE {freq['rmse_THz']:.4f} THz, max "
          f"{freq['max_abs_THz']:.4f} THz, mean MLIP-DFT {freq['mean_difference_THz']:+.4f} THz")
    gamma = summary["gamma"]
    print("Γ (THz) DFT:  " + " ".join(f"{f:7.3f}" for f in gamma["dft_THz"]))
    print("Γ (THz) MLIP: " + " ".join(f"{f:7.3f}" for f in gamma["mlip_THz"]))
    if mlip["has_imaginary_modes"]:
        print(f"MLIP has imaginary modes (lowest {mlip['lowest_frequency_THz']:.3f} THz)")
    kappa = summary["kappa"]
    if kappa is not None:
        t = kappa["temperature_of_ratio_K"]
        k = kappa["temperatures_K"].index(t)
        print(f"κ at {t:g} K (RTA, {'x'.join(map(str, kappa['mesh']))} mesh): DFT "
              f"{kappa['dft_trace_average'][k]:.2f}, MLIP {kappa['mlip_trace_average'][k]:.2f} "
              f"W/m/K, ratio {kappa['ratio_mlip_over_dft']:.3f}")
    print(f"results in {out}/")
