"""``latdyn kappa POSCAR``: lattice thermal conductivity from an MLIP (phono3py)."""

from __future__ import annotations

import argparse
import dataclasses

from latdyn.cli.options import (
    add_born_options,
    add_common_options,
    add_force_options,
    add_kappa_kernel_option,
    add_mesh_option,
    add_structure_options,
    add_temperature_options,
    born_value,
    displacement_float,
    mesh_value,
    positive_float,
    refuse_ignored,
    relax_ignored,
    temperatures_value,
)
from latdyn.cli.symmetrize_options import add_symmetrize_options

#: Option destination -> ``KappaWorkflowSettings`` field, for options given explicitly.
_OPTION_FIELDS = {
    "fc2_supercell": "fc2_supercell",
    "fc3_supercell": "fc3_supercell",
    "fc2_min_length": "fc2_min_length",
    "fc3_min_length": "fc3_min_length",
    "fc2_displacement": "fc2_distance",
    "fc3_displacement": "fc3_distance",
    "fc2_method": "fc2_method",
    "fc2_n_random": "fc2_n_random",
    "fc3_method": "fc3_method",
    "n_random": "n_random",
    "fc3_convergence": "fc3_convergence",
    "fc3_max_random": "fc3_max_random",
    "fc3_holdout": "fc3_holdout",
    "random_seed": "random_seed",
    "fc_solver": "fc_solver",
    "method": "method",
    "boundary_mfp": "boundary_mfp",
    "imaginary_tolerance": "imaginary_tolerance",
    "kappa_kernel": "kappa_kernel",
    "kappa_workers": "kappa_workers",
    "scheduler": "scheduler",
}


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="lattice thermal conductivity (RTA, Wigner, LBTE)",
        description="Relax a crystal with an MLIP, fit FC2 and FC3 (phono3py, sum rules enforced "
        "with symfc) from force sets shared with `latdyn phonons` through the force cache, and "
        "compute κ. No FC3 is computed if the harmonic phonons have imaginary modes or the "
        "relaxation changed the space group (unless --force); summary.json then says why.",
    )
    add_structure_options(parser)
    group = parser.add_argument_group("κ")
    group.add_argument("--protocol", default="default", choices=["default", "ksrme"],
                       help="ksrme: the κSRME protocol of Matbench Discovery (Póta et al. 2024), "
                       "taking supercells and q-mesh from the structure's extxyz info; κ and "
                       "force-constant options given explicitly override it, relaxation "
                       "options other than --no-relax do not (default: %(default)s)")
    add_temperature_options(group, "κ", (100.0, 1000.0, 100.0), default_list=(300.0,))
    add_mesh_option(group, None, "κ", "--mesh-density", shown="40, phono3py's rule")
    group.add_argument("--method", choices=["rta", "wigner", "lbte"],
                       help="rta (default), wigner (particle + coherence) or lbte (direct "
                       "solution)")
    group.add_argument("--no-isotope", action="store_true", help="leave out isotope scattering")
    group.add_argument("--boundary-mfp", type=positive_float, metavar="UM",
                       help="boundary mean free path, µm (default: none)")
    group.add_argument("--temperature-volume", action="store_true",
                       help="also compute κ at each temperature's QHA volume V(T) (runs "
                       "`latdyn qha` on the same structure, model and FC2 supercell, then FC2, "
                       "FC3 and κ at each V(T)); summary.json and kappa_temperature_volume.png "
                       "compare it with κ at the static volume")
    group.add_argument("--force", action="store_true",
                       help="compute FC3 and κ even with imaginary modes or a changed symmetry")
    group.add_argument("--imaginary-tolerance", type=float, metavar="THZ",
                       help="modes below minus this count as imaginary, THz (default: 0.01)")
    add_kappa_kernel_option(group)
    group.add_argument("--kappa-workers", type=int, metavar="N",
                       help="share the κ step's q-points among N local Dask worker processes "
                       "(rta, wigner; same κ as one process; default: 1)")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="share the κ step's q-points among the workers of this Dask "
                       "scheduler (e.g. tcp://host:8786)")
    fc = parser.add_argument_group("force constants")
    fc.add_argument("--fc2-supercell", "--dim-fc2", dest="fc2_supercell", type=int, nargs="+",
                    metavar="N",
                    help="FC2 supercell, 3 or 9 integers relative to the standardized primitive "
                    "cell (alias --dim-fc2, phono3py's name; default: automatic, see "
                    "--fc2-min-length)")
    fc.add_argument("--fc3-supercell", "--dim", dest="fc3_supercell", type=int, nargs="+",
                    metavar="N",
                    help="FC3 supercell, 3 or 9 integers (alias --dim, phono3py's name; "
                    "default: automatic, see --fc3-min-length)")
    fc.add_argument("--fc2-min-length", "--min-length", dest="fc2_min_length",
                    type=positive_float,
                    help="automatic FC2 supercell: all face-to-face widths at least this, Å "
                    "(alias --min-length; default: 10, as `phonons`)")
    fc.add_argument("--fc3-min-length", type=positive_float,
                    help="automatic FC3 supercell: all face-to-face widths at least this, Å "
                    "(default: 7)")
    fc.add_argument("--fc2-displacement", type=displacement_float,
                    help="FC2 displacement amplitude, Å (default: 0.01, as `phonons`)")
    fc.add_argument("--fc3-displacement", type=displacement_float,
                    help="FC3 displacement amplitude, Å (default: 0.03)")
    fc.add_argument("--fc2-method", choices=["fd", "random"],
                    help="fd: finite displacements (default); random: --fc2-n-random supercells "
                    "with every atom displaced, fitted with symfc")
    fc.add_argument("--fc2-n-random", type=int, metavar="N",
                    help="number of random FC2 patterns (default: 1; each with its opposite "
                    "unless --protocol ksrme without --fc2-plus-minus)")
    fc.add_argument("--fc2-plus-minus", action="store_true",
                    help="FC2: displace both ways (the default protocol's choice; ksrme "
                    "displaces both ways only where symmetry requires it)")
    fc.add_argument("--fc3-method", choices=["fd", "random"],
                    help="fd: finite displacements (default); random: random displacements of all "
                    "atoms fitted with symfc")
    fc.add_argument("--n-random", type=int, metavar="N",
                    help="number of random FC3 displacement patterns (default: phono3py's "
                    "estimate)")
    fc.add_argument("--fc3-plus-minus", action="store_true",
                    help="random FC3: evaluate each pattern and its opposite (two supercells a "
                    "pattern; the fit sees the even part of the forces, far more accurate per "
                    "supercell)")
    fc.add_argument("--fc3-convergence", type=positive_float, metavar="TOL",
                    help="random FC3: start from twice the patterns symfc needs at least (or "
                    "--n-random) and double them until κ on a half-density mesh changes by at "
                    "most TOL (relative, e.g. 0.01) between doublings")
    fc.add_argument("--fc3-max-random", type=int, metavar="N",
                    help="largest set of random FC3 supercells --fc3-convergence may reach "
                    "(default: 8 times the first)")
    fc.add_argument("--fc3-holdout", type=int, metavar="N",
                    help="evaluate N more ± pairs of random displacements (at the FC3 "
                    "displacement, not fitted) and report how well the fitted FC3 predicts "
                    "the even part of their forces (any --fc3-method)")
    fc.add_argument("--random-seed", type=int, help="seed of the random displacements "
                    "(default: 0)")
    fc.add_argument("--fc-solver", choices=["symfc", "traditional", "auto"],
                    help="symfc (default; sum rules enforced), traditional (finite "
                    "differences + phono3py symmetrization) or auto (traditional for finite, "
                    "symfc for random displacements; ksrme's default)")
    add_born_options(parser.add_argument_group("NAC"))
    add_force_options(parser)
    add_symmetrize_options(parser)
    add_common_options(parser, default_out="latdyn-kappa")
    parser.set_defaults(handler=run)


def explicit_settings(args: argparse.Namespace) -> dict:
    """Settings the user gave on the command line (``KappaWorkflowSettings`` field names)."""
    settings = {field: getattr(args, option) for option, field in _OPTION_FIELDS.items()
                if getattr(args, option) is not None}
    if args.mesh is not None:
        settings["mesh"] = mesh_value(args.mesh)
    if args.temperatures is not None or any(
            getattr(args, name) is not None for name in ("tmin", "tmax", "tstep")):
        settings["temperatures"] = temperatures_value(args)
    if args.no_isotope:
        settings["isotope"] = False
    if args.force:
        settings["force"] = True
    if args.fc3_plus_minus:
        settings["fc3_plus_minus"] = True
    if args.fc2_plus_minus:
        settings["fc2_plus_minus"] = True
    return settings


def settings_from(args: argparse.Namespace, atoms=None):
    """``KappaWorkflowSettings`` from the arguments (``atoms`` is needed for ``ksrme``)."""
    from latdyn.cli.phonons import relax_settings_from
    from latdyn.workflows.kappa import KappaWorkflowSettings, ksrme_settings

    common = {
        "model": args.model,
        "device": args.device,
        "relax": not args.no_relax,
        "cache_dir": args.cache_dir,
        "use_cache": not args.no_cache,
        "progress": not args.no_progress,
        "symmetrize": args.symmetrize,
        "rotations": args.rotations,
        **explicit_settings(args),
    }
    if args.protocol == "ksrme":
        return ksrme_settings(atoms, **common)
    return KappaWorkflowSettings(relax_settings=relax_settings_from(args), symprec=args.symprec,
                                 **common)


def run(args: argparse.Namespace) -> int:
    from latdyn.cli.phonons import input_record
    from latdyn.structure import read_structure
    from latdyn.workflows.kappa import run_kappa_workflow
    from latdyn.workflows.kappa_output import write_kappa_run

    if args.protocol == "default":
        settings = settings_from(args)  # validate before reading anything
        refuse_ignored_options(args, settings)
    atoms = read_structure(args.structure, index=args.index)
    if args.protocol == "ksrme":
        settings = settings_from(args, atoms)
        refuse_ignored_options(args, settings)
    born = born_value(args, atoms, "kappa")
    settings = dataclasses.replace(settings, born=None if born is None else str(born.path))
    inputs = {**input_record(args, born), "protocol": args.protocol}
    if args.temperature_volume:
        summary = _run_temperature_volume(atoms, settings, args.out, inputs)
    else:
        summary = write_kappa_run(run_kappa_workflow(atoms, settings), args.out, inputs)
    print_kappa_report(summary, args.out)
    return 0


def refuse_ignored_options(args: argparse.Namespace, settings) -> None:
    """Options the chosen methods would ignore are refused, not silently dropped."""
    randoms = "random" in (settings.fc2_method, settings.fc3_method) or settings.fc3_holdout > 0
    refuse_ignored(args, [
        ("--n-random", args.n_random is not None and settings.fc3_method != "random",
         "--fc3-method random"),
        ("--fc2-n-random", args.fc2_n_random is not None and settings.fc2_method != "random",
         "--fc2-method random"),
        ("--fc3-max-random", args.fc3_max_random is not None
         and settings.fc3_convergence is None, "--fc3-convergence"),
        ("--random-seed", args.random_seed is not None and not randoms,
         "random displacements (--fc2-method/--fc3-method random) or --fc3-holdout"),
        ("--scheduler", args.scheduler is not None and args.kappa_workers is not None,
         "no --kappa-workers (give one of the two)"),
        *(relax_ignored(args) if args.protocol == "default" else []),
    ])
def _run_temperature_volume(atoms, settings, out, inputs: dict) -> dict:
    """κ at the static volume and at each V(T); the summary gains ``temperature_volume``."""
    from latdyn.qha.plot import plot_kappa_volume
    from latdyn.workflows.kappa_output import write_kappa_run
    from latdyn.workflows.kappa_volume import (
        run_kappa_temperature_volume,
        temperature_volume_summary,
    )

    result = run_kappa_temperature_volume(atoms, settings)
    title = f"{atoms.get_chemical_formula(empirical=True)} — {result.fixed.model['name']}"

    def write_figure(folder):
        return plot_kappa_volume(result.temperatures, result.kappa_fixed, result.kappa_expanded,
                                 [folder / "kappa_temperature_volume.png"], title)

    return write_kappa_run(result.fixed, out, inputs,
                           extra={"temperature_volume": temperature_volume_summary(result)},
                           extra_writer=write_figure)


def _level_text(level: dict) -> str:
    """``n: κ (change, new supercells predicted to residual)`` of one convergence level."""
    notes = []
    if level["relative_change"] is not None:
        notes.append(f"{level['relative_change']:.1%}")
    if level.get("holdout_residual") is not None:
        notes.append(f"new supercells predicted to {level['holdout_residual']:.1%}")
    text = f"{level['n_supercells']}: {level['kappa_trace_average'][0]:.2f}"
    return f"{text} ({', '.join(notes)})" if notes else text


def print_kappa_report(summary: dict, out) -> None:
    structure = summary["structure"]
    supercells = summary["supercells"]
    disp = summary["displacements"]
    print(f"{structure['formula']}  space group {structure['space_group_used']}  "
          f"model {summary['model']['name']}  protocol {summary['protocol']}")
    for order in ("fc2", "fc3"):
        d = disp[order]
        print(f"{order.upper()}: supercell {supercells[order]['matrix']} "
              f"({supercells[order]['n_atoms']} atoms), {d['n_displaced_supercells']} displaced "
              f"supercells ({d['n_computed']} computed, {d['n_from_cache']} from cache)")
    check = disp["fc3"].get("convergence")
    if check is not None:
        steps = ", ".join(_level_text(level) for level in check["levels"])
        verdict = "converged" if check["converged"] else "NOT converged"
        print(f"FC3 convergence on mesh {check['mesh']} (tolerance {check['tolerance']:.1%}): "
              f"{verdict}; supercells: κ {steps}")
    holdout = (summary["force_constants"]["fc3"] or {}).get("holdout")
    if holdout is not None:
        print(f"FC3 on {holdout['n_pairs']} held-out ± pairs ({holdout['distance_A']:g} Å): "
              f"residual {holdout['residual']:.2%} of the even part of the forces (worst pair "
              f"{max(holdout['pair_residuals']):.2%})")
    gate = summary["gate"]
    if not gate["kappa_computed"]:
        print("no κ computed: " + "; ".join(gate["reasons"]) + " (use --force to compute it)")
    else:
        if gate["forced"]:
            print("κ computed despite (--force): " + "; ".join(gate["reasons"]))
        kappa = summary["kappa"]
        print(f"κ ({kappa['method']}, mesh {kappa['mesh']}), W/m/K:")
        for entry in kappa["per_temperature"]:
            k = entry["kappa"]
            print(f"  T = {entry['temperature_K']:g} K: trace average "
                  f"{entry['kappa_trace_average']:.3f}  (xx {k['xx']:.3f}, yy {k['yy']:.3f}, "
                  f"zz {k['zz']:.3f})")
    volume = summary.get("temperature_volume")
    if volume is not None:
        print(f"κ at the QHA volume V(T) ({volume['qha']['n_volumes']} volumes, trusted up to "
              f"{volume['qha']['t_max_trusted_K']:g} K), W/m/K:")
        for entry in volume["per_temperature"]:
            if entry["kappa_trace_average"] is None:
                print(f"  T = {entry['temperature_K']:g} K: beyond the QHA's trusted range")
                continue
            print(f"  T = {entry['temperature_K']:g} K: V/V_static "
                  f"{entry['volume_ratio']:.4f}, κ {entry['kappa_trace_average']:.3f} "
                  f"(static volume {entry['kappa_trace_average_fixed_volume']:.3f}, "
                  f"{entry['relative_change']:+.1%})")
    timings = "  ".join(f"{k} {v:.1f}s" for k, v in summary["timings_s"].items())
    print(f"timings: {timings}")
    print(f"results in {out}/")
