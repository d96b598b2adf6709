"""``latdyn qha POSCAR``: thermal expansion, B(T), C_p(T) and Grüneisen parameters (QHA)."""

from __future__ import annotations

import argparse

from latdyn.cli.options import (
    add_common_options,
    add_force_options,
    add_mesh_option,
    add_structure_options,
    add_supercell_options,
    positive_float,
    supercell_values,
)
from latdyn.cli.symmetrize_options import add_symmetrize_options


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="quasi-harmonic approximation: V(T), α(T), B(T), C_p(T), Grüneisen parameters",
        description="Relax a crystal with an MLIP, relax it again at a set of volumes around "
        "its equilibrium (space group kept; cubic cells relax positions, others also their "
        "shape at constant volume), fit FC2 at each volume with one supercell matrix, let "
        "phonopy's QHA fit F(V; T) and write V(T), α(T), B(T), C_p(T), G(T), mode Grüneisen "
        "parameters, qha.h5, phonopy's QHA files, figures and summary.json. Curves stop where "
        "the minimum leaves the sampled volumes; volumes with imaginary modes are not fitted.",
    )
    add_structure_options(parser)
    group = parser.add_argument_group("QHA")
    group.add_argument("--volumes", type=int, default=11, metavar="N",
                       help="number of volumes, at least 5 (default: %(default)s)")
    group.add_argument("--strain-range", type=float, default=0.05, metavar="X",
                       help="volumes from V0(1-X) to V0(1+X), 0 < X < 0.3 "
                       "(default: %(default)s)")
    group.add_argument("--eos", default="vinet", choices=["vinet", "birch_murnaghan",
                                                          "murnaghan"],
                       help="equation of state of the fit (default: %(default)s)")
    group.add_argument("--pressure", type=float, default=0.0, metavar="GPA",
                       help="pressure, GPa (default: %(default)s)")
    add_mesh_option(group, 60.0, "the free energies (one mesh for all volumes)")
    group.add_argument("--tmax", type=positive_float, default=1000.0,
                       help="highest temperature, K (default: %(default)s)")
    group.add_argument("--tstep", type=positive_float, default=10.0,
                       help="temperature step, K (default: %(default)s)")
    add_supercell_options(group, relative_to="the standardized primitive cell, the same at "
                          "every volume")
    group.add_argument("--displacement", type=positive_float, default=0.01,
                       help="displacement amplitude, Å (default: %(default)s)")
    group.add_argument("--fc-solver", default="symfc", choices=["symfc", "traditional"],
                       help="FC2 solver (default: %(default)s)")
    group.add_argument("--band-npoints", type=int, default=51,
                       help="q-points per band segment of the Grüneisen dispersion "
                       "(default: %(default)s)")
    add_force_options(parser)
    add_symmetrize_options(parser)
    add_common_options(parser, default_out="latdyn-qha")
    parser.set_defaults(handler=run)


def settings_from(args: argparse.Namespace):
    """``QHAWorkflowSettings`` from the arguments (validated before any work)."""
    from latdyn.cli.options import (
        execution_settings_from,
        mesh_value,
        model_settings_from,
        relax_settings_from,
    )
    from latdyn.qha import QHASettings, VolumeGridSettings
    from latdyn.workflows.qha import QHAWorkflowSettings

    relax = relax_settings_from(args)
    return QHAWorkflowSettings(
        model=model_settings_from(args),
        execution=execution_settings_from(args),
        relax=args.relax,
        relax_settings=relax,
        volumes=VolumeGridSettings(n_volumes=args.volumes, strain_range=args.strain_range,
                                   relax=args.relax, relax_settings=relax),
        qha=QHASettings(eos=args.eos, pressure=args.pressure, mesh=mesh_value(args.mesh),
                        t_max=args.tmax, t_step=args.tstep),
        supercell=supercell_values(args.supercell),
        min_length=args.min_length,
        distance=args.displacement,
        fc_solver=args.fc_solver,
        band_npoints=args.band_npoints,
        symprec=args.symprec,
    )


def run(args: argparse.Namespace) -> int:
    from latdyn.cli.phonons import input_record
    from latdyn.structure import read_structure
    from latdyn.workflows.qha import run_qha_workflow
    from latdyn.workflows.qha_output import write_qha_run

    settings = settings_from(args)
    atoms = read_structure(args.structure, index=args.index)
    result = run_qha_workflow(atoms, settings)
    summary = write_qha_run(result, args.out, input_record(args))
    print_qha_report(summary, args.out)
    return 0


def _fmt(value, scale=1.0, spec=".3f") -> str:
    return "n/a" if value is None else format(value * scale, spec)


def print_qha_report(summary: dict, out) -> None:
    structure, volumes, qha = summary["structure"], summary["volumes"], summary["qha"]
    print(f"{structure['formula']}  space group {structure['space_group_used']}  "
          f"model {summary['model']['name']}  EOS {qha['eos']}  p = {qha['pressure_GPa']:g} GPa")
    v = volumes["volumes_A3"]
    print(f"{volumes['n_volumes']} volumes {v[0]:.3f}..{v[-1]:.3f} Å³ "
          f"(±{volumes['strain_range']:.1%}), supercell {summary['supercell']['matrix']}; "
          f"relaxation at fixed volume: {volumes['fixed_volume_relaxation']}")
    bad = [f"{x:.3f}" for x, flag in zip(v, volumes["imaginary_modes"], strict=True) if flag]
    if bad:
        print(f"IMAGINARY MODES at {', '.join(bad)} Å³: left out of the fit")
    static = qha["static_eos"]
    print(f"static E(V): V0 {static['V0_A3']:.3f} Å³, B0 {static['B0_GPa']:.1f} GPa, "
          f"B0' {static['B0_prime']:.2f}")
    if qha["truncated"]:
        print(f"the minimum leaves the sampled volumes above {qha['t_max_trusted_K']:g} K: "
              f"curves stop there (requested {qha['t_max_requested_K']:g} K)")
    a = qha["at_300K"]
    print(f"300 K: V {_fmt(a['volume_A3'])} Å³ ({_fmt(a['volume_change_from_0K'], 100, '+.3f')}% "
          f"from 0 K), α {_fmt(a['linear_expansion_per_K'], 1e6, '.2f')}e-6/K, "
          f"B {_fmt(a['bulk_modulus_GPa'], 1, '.1f')} GPa, C_p {_fmt(a['heat_capacity_p_J_per_K_mol'], 1, '.2f')} "
          f"/ C_v {_fmt(a['heat_capacity_v_J_per_K_mol'], 1, '.2f')} J/K/mol, "
          f"γ {_fmt(a['gruneisen_mode_average'], 1, '.2f')} (mode average), "
          f"{_fmt(a['gruneisen_thermodynamic'], 1, '.2f')} (βBV/C_v)")
    timings = "  ".join(f"{k} {t:.1f}s" for k, t in summary["timings_s"].items())
    print(f"timings: {timings}")
    print(f"results in {out}/")
