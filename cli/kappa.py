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
    execution_settings_from,
    field_changes,
    mesh_value,
    model_settings_from,
    positive_float,
    refuse_ignored,
    relax_ignored,
    relax_settings_from,
    temperatures_value,
)
from latdyn.cli.symmetrize_options import add_symmetrize_options


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
    _add_kappa_options(parser.add_argument_group("κ"))
    _add_force_constant_options(parser.add_argument_group("force constants"))
    add_born_options(parser.add_argument_group("NAC"))
    add_force_options(parser)
    add_symmetrize_options(parser)
    add_common_options(parser, default_out="latdyn-kappa")
    parser.set_defaults(handler=run)


def _add_kappa_options(group) -> None:
    """The κ options: each ``dest`` names its ``KappaWorkflowSettings`` field."""
    group.add_argument("--protocol", default="default", choices=["default", "ksrme"],
                       help="ksrme: the κSRME protocol of Matbench Discovery (Póta et al. 2024), "
                       "taking supercells and q-mesh from the structure's extxyz info; κ and "
                       "force-constant options given explicitly override it, relaxation "
                       "options other than --no-relax do not (default: %(default)s)")
    add_temperature_options(group, "κ", (100.0, 1000.0, 100.0), default_list=(300.0,))
    add_mesh_option(group, None, "κ", "--mesh-density", shown="40, phono3py's rule")
    group.add_argument("--method", dest="settings.kappa.method", choices=["rta", "wigner", "lbte"],
                       help="rta (default), wigner (particle + coherence) or lbte (direct "
                       "solution)")
    group.add_argument("--no-isotope", dest="settings.kappa.isotope", action="store_const",
                       const=False, help="leave out isotope scattering")
    group.add_argument("--boundary-mfp", dest="settings.kappa.boundary_mfp",
                       type=positive_float, metavar="UM",
                       help="boundary mean free path, µm (default: none)")
    group.add_argument("--temperature-volume", action="store_true",
                       help="also compute κ at each temperature's QHA volume V(T) (runs "
                       "`latdyn qha` on the same structure, model and FC2 supercell, then FC2, "
                       "FC3 and κ at each V(T)); summary.json and kappa_temperature_volume.png "
                       "compare it with κ at the static volume")
    group.add_argument("--force", dest="settings.gate.force", action="store_const", const=True,
                       help="compute FC3 and κ even with imaginary modes or a changed symmetry")
    group.add_argument("--imaginary-tolerance", dest="settings.gate.imaginary_tolerance",
                       type=float, metavar="THZ",
                       help="modes below minus this count as imaginary, THz (default: 0.01)")
    add_kappa_kernel_option(group, dest="settings.kappa.kernel")
    group.add_argument("--kappa-workers", dest="settings.parallel.workers", type=int, metavar="N",
                       help="share the κ step's q-points among N local Dask worker processes "
                       "(rta, wigner; same κ as one process; default: 1)")
    group.add_argument("--scheduler", dest="settings.parallel.scheduler", metavar="ADDRESS",
                       help="share the κ step's q-points among the workers of this Dask "
                       "scheduler (e.g. tcp://host:8786)")


def _add_force_constant_options(fc) -> None:
    """The FC2/FC3 options: each ``dest`` names its ``KappaWorkflowSettings`` field."""
    fc.add_argument("--fc2-supercell", "--dim-fc2", dest="settings.fc2.supercell.matrix",
                    type=int, nargs="+",
                    metavar="N",
                    help="FC2 supercell, 3 or 9 integers relative to the standardized primitive "
                    "cell (alias --dim-fc2, phono3py's name; default: automatic, see "
                    "--fc2-min-length)")
    fc.add_argument("--fc3-supercell", "--dim", dest="settings.fc3.supercell.matrix",
                    type=int, nargs="+",
                    metavar="N",
                    help="FC3 supercell, 3 or 9 integers (alias --dim, phono3py's name; "
                    "default: automatic, see --fc3-min-length)")
    fc.add_argument("--fc2-min-length", "--min-length", dest="settings.fc2.supercell.min_length",
                    type=positive_float,
                    help="automatic FC2 supercell: all face-to-face widths at least this, Å "
                    "(alias --min-length; default: 10, as `phonons`)")
    fc.add_argument("--fc3-min-length", dest="settings.fc3.supercell.min_length",
                    type=positive_float,
                    help="automatic FC3 supercell: all face-to-face widths at least this, Å "
                    "(default: 7)")
    fc.add_argument("--fc2-displacement", dest="settings.fc2.distance", type=displacement_float,
                    help="FC2 displacement amplitude, Å (default: 0.01, as `phonons`)")
    fc.add_argument("--fc3-displacement", dest="settings.fc3.distance", type=displacement_float,
                    help="FC3 displacement amplitude, Å (default: 0.03)")
    fc.add_argument("--fc2-method", dest="settings.fc2.method", choices=["fd", "random"],
                    help="fd: finite displacements (default); random: --fc2-n-random supercells "
                    "with every atom displaced, fitted with symfc")
    fc.add_argument("--fc2-n-random", dest="settings.fc2.n_random", type=int, metavar="N",
                    help="number of random FC2 patterns (default: 1; each with its opposite "
                    "unless --protocol ksrme without --fc2-plus-minus)")
    fc.add_argument("--fc2-plus-minus", dest="settings.fc2.plus_minus", action="store_const",
                    const=True,
                    help="FC2: displace both ways (the default protocol's choice; ksrme "
                    "displaces both ways only where symmetry requires it)")
    fc.add_argument("--fc3-method", dest="settings.fc3.method", choices=["fd", "random"],
                    help="fd: finite displacements (default); random: random displacements of all "
                    "atoms fitted with symfc")
    fc.add_argument("--n-random", dest="settings.fc3.n_random", type=int, metavar="N",
                    help="number of random FC3 displacement patterns (default: phono3py's "
                    "estimate)")
    fc.add_argument("--fc3-plus-minus", dest="settings.fc3.plus_minus", action="store_const",
                    const=True,
                    help="random FC3: evaluate each pattern and its opposite (two supercells a "
                    "pattern; the fit sees the even part of the forces, far more accurate per "
                    "supercell)")
    fc.add_argument("--fc3-convergence", dest="settings.fc3.convergence",
                    type=positive_float, metavar="TOL",
                    help="random FC3: start from twice the patterns symfc needs at least (or "
                    "--n-random) and double them until κ on a half-density mesh changes by at "
                    "most TOL (relative, e.g. 0.01) between doublings")
    fc.add_argument("--fc3-max-random", dest="settings.fc3.max_random", type=int, metavar="N",
                    help="largest set of random FC3 supercells --fc3-convergence may reach "
                    "(default: 8 times the first)")
    fc.add_argument("--fc3-holdout", dest="settings.fc3.holdout", type=int, metavar="N",
                    help="evaluate N more ± pairs of random displacements (at the FC3 "
                    "displacement, not fitted) and report how well the fitted FC3 predicts "
                    "the even part of their forces (any --fc3-method)")
    fc.add_argument("--random-seed", dest="settings.random_seed",
                    type=int, help="seed of the random displacements "
                    "(default: 0)")
    fc.add_argument("--fc-solver", dest="settings.fc_solver",
                    choices=["symfc", "traditional", "auto"],
                    help="symfc (default; sum rules enforced), traditional (finite "
                    "differences + phono3py symmetrization) or auto (traditional for finite, "
                    "symfc for random displacements; ksrme's default)")


def explicit_settings(args: argparse.Namespace) -> dict:
    """The settings the user gave on the command line, as nested changes of
    ``KappaWorkflowSettings``: each option's ``dest`` is ``settings.`` and the path of its
    field; the mesh and the temperature options are converted here."""
    changes = field_changes(args)
    kappa = {}
    if args.mesh is not None:
        kappa["mesh"] = mesh_value(args.mesh)
    if args.temperatures is not None or any(
            getattr(args, name) is not None for name in ("tmin", "tmax", "tstep")):
        kappa["temperatures"] = temperatures_value(args)
    if kappa:
        changes["kappa"] = {**changes.get("kappa", {}), **kappa}
    return changes


def settings_from(args: argparse.Namespace, atoms=None):
    """``KappaWorkflowSettings`` from the arguments (``atoms`` is needed for ``ksrme``)."""
    from latdyn.protocols.ksrme import ksrme_settings
    from latdyn.workflows.kappa_settings import KappaWorkflowSettings, with_changes

    model, execution = model_settings_from(args), execution_settings_from(args)
    changes = {"relax": args.relax, **explicit_settings(args)}
    if args.protocol == "ksrme":
        return ksrme_settings(atoms, model, execution, changes)
    base = KappaWorkflowSettings(model=model, execution=execution,
                                 relax_settings=relax_settings_from(args), symprec=args.symprec)
    return with_changes(base, changes)


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
    fc2, fc3 = settings.fc2, settings.fc3
    randoms = "random" in (fc2.method, fc3.method) or fc3.holdout > 0
    given = field_changes(args)
    refuse_ignored(args, [
        ("--n-random", "n_random" in given.get("fc3", {}) and fc3.method != "random",
         "--fc3-method random"),
        ("--fc2-n-random", "n_random" in given.get("fc2", {}) and fc2.method != "random",
         "--fc2-method random"),
        ("--fc3-max-random", "max_random" in given.get("fc3", {}) and fc3.convergence is None,
         "--fc3-convergence"),
        ("--random-seed", "random_seed" in given and not randoms,
         "random displacements (--fc2-method/--fc3-method random) or --fc3-holdout"),
        ("--scheduler", set(given.get("parallel", {})) == {"workers", "scheduler"},
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
        if holdout["warning"]:
            print(f"warning: {holdout['warning']}")
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
