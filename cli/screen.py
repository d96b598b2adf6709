"""``latdyn screen STRUCTURES``: κ or phonons for many materials, resumable, local or on Dask."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from latdyn.cli.options import (
    add_common_options,
    add_force_options,
    add_kappa_kernel_option,
    add_mesh_option,
    add_relax_options,
    add_supercell_options,
    add_temperature_options,
    displacement_float,
    execution_settings_from,
    mesh_value,
    model_settings_from,
    positive_float,
    relax_settings_from,
    supercell_values,
    temperatures_value,
)
from latdyn.cli.symmetrize_options import add_symmetrize_options

#: Exit status when no material succeeded (every one failed or timed out).
ALL_FAILED_STATUS = 3


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="screen many structures for κ or phonons (resumable, local pool or Dask)",
        description="Compute κ (or harmonic phonons) for every structure of an extended XYZ "
        "file or a folder of POSCAR/CIF files. Each material runs in its own process (killed "
        "after --timeout) and is stored in OUT/screen.sqlite when it finishes; re-running the "
        "same command skips finished materials (matched by id and structure content: an edited "
        "structure is recomputed). Writes ranking.csv, two figures and summary.json. Exit "
        "status 3 when no material succeeded, 2 for bad input. Per-material fc2_supercell, fc3_supercell, supercell and q_mesh in a "
        "structure's info override the flags.",
    )
    parser.add_argument("structures", type=Path,
                        help="extended XYZ file with many structures, or a folder of POSCAR/CIF")
    parser.add_argument("--task", default="kappa", choices=["kappa", "phonons"],
                        help="what to compute per material (default: %(default)s)")
    run = parser.add_argument_group("execution")
    run.add_argument("--workers", type=positive_int, default=1,
                     help="materials computed at a time on this machine (default: %(default)s)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run on the Dask cluster whose scheduler is at ADDRESS "
                     "(tcp://host:8786) instead of the local pool")
    run.add_argument("--threads-per-material", type=positive_int,
                     help="threads of each material's process (default: cores // workers "
                     "locally, 1 on Dask)")
    run.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                     help="time limit per material; a material over it is killed and recorded "
                     "as timeout (default: none)")
    run.add_argument("--retry-failed", action="store_true",
                     help="recompute materials stored as failed or timeout")
    relax = add_relax_options(parser)
    relax.add_argument("--strict-symmetry", action="store_true",
                       help="record a material whose space group changes on relaxation as "
                       "failed (default: go on and flag it)")
    task = parser.add_argument_group("task settings (per-material info keys override them)")
    add_supercell_options(task, relative_to="the primitive cell (FC2 supercell)")
    task.add_argument("--displacement", type=displacement_float, default=0.01,
                      help="displacement amplitude, Å (default: %(default)s)")
    add_mesh_option(task, None, "the task", shown="the task's default")
    task.add_argument("--band-npoints", type=positive_int, default=51,
                      help="phonons task: q-points per band segment (default: %(default)s)")
    add_kappa_options(task)
    add_force_options(parser)
    add_symmetrize_options(parser)
    add_common_options(parser, default_out="latdyn-screen")
    parser.set_defaults(handler=run_command)


def add_kappa_options(group) -> None:
    group.add_argument("--fc3-supercell", type=int, nargs="+", metavar="N",
                       help="kappa task: FC3 supercell, 3 or 9 integers (default: the kappa "
                       "workflow's choice)")
    add_temperature_options(group, "the kappa task", (100.0, 1000.0, 100.0),
                            default_list=(300.0,))
    add_kappa_kernel_option(group)


def phonon_settings_from(args: argparse.Namespace):
    from latdyn.phonon import PhononSettings
    from latdyn.workflows.phonons import PhononWorkflowSettings

    phonons = PhononSettings(band_npoints=args.band_npoints, projected_dos=False,
                             **({"mesh": mesh_value(args.mesh)} if args.mesh else {}))
    return PhononWorkflowSettings(
        model=model_settings_from(args), execution=execution_settings_from(args, progress=False),
        relax=args.relax, relax_settings=relax_settings_from(args, not args.strict_symmetry),
        supercell=supercell_values(args.supercell), min_length=args.min_length,
        distance=args.displacement, phonons=phonons, symprec=args.symprec,
    )


def kappa_settings_from(args: argparse.Namespace):
    from latdyn.anharmonic.specs import DEFAULT_FC3_MIN_LENGTH, FC2Spec, FC3Spec
    from latdyn.kappa import KappaSettings
    from latdyn.structure.supercell import SupercellSpec
    from latdyn.workflows.kappa import KappaWorkflowSettings

    mesh = {"mesh": mesh_value(args.mesh)} if args.mesh else {}
    return KappaWorkflowSettings(
        model=model_settings_from(args), execution=execution_settings_from(args, progress=False),
        relax=args.relax, relax_settings=relax_settings_from(args, not args.strict_symmetry),
        fc2=FC2Spec(supercell=SupercellSpec(args.supercell, args.min_length),
                    distance=args.displacement),
        fc3=FC3Spec(supercell=SupercellSpec(args.fc3_supercell, DEFAULT_FC3_MIN_LENGTH)),
        kappa=KappaSettings(temperatures=temperatures_value(args), kernel=args.kappa_kernel,
                            **mesh),
        symprec=args.symprec,
    )


def input_record(args: argparse.Namespace, n_materials: int) -> dict:
    from latdyn.provenance import file_sha256

    record = {"structures": str(args.structures), "n_materials": n_materials}
    if args.structures.is_file():
        record["structures_sha256"] = file_sha256(args.structures)
    return record


def run_command(args: argparse.Namespace) -> int:
    from latdyn.screen import ScreenSettings, discover_materials, run_screen
    from latdyn.screen.output import write_screen_outputs

    if args.task == "kappa":
        task_settings = kappa_settings_from(args)
    else:
        task_settings = phonon_settings_from(args)
    settings = ScreenSettings(
        task=args.task, task_settings=task_settings, workers=args.workers,
        scheduler=args.scheduler, threads_per_material=args.threads_per_material,
        timeout=args.timeout, retry_failed=args.retry_failed, progress=not args.no_progress,
    )
    materials = discover_materials(args.structures)
    result = run_screen(materials, settings, args.out)
    summary = write_screen_outputs(result, args.out, input_record(args, len(materials)))
    print_screen_report(summary, args.out)
    counts = summary["counts"]
    if counts["total"] and counts["done"] == 0:
        print(f"latdyn screen: no material succeeded ({counts['failed']} failed, "
              f"{counts['timeout']} timeout; see summary.json and screen.sqlite); exit status "
              f"{ALL_FAILED_STATUS}", file=sys.stderr)
        return ALL_FAILED_STATUS
    return 0


def print_screen_report(summary: dict, out) -> None:
    counts = summary["counts"]
    print(f"{counts['total']} materials: {counts['done']} done, {counts['failed']} failed, "
          f"{counts['timeout']} timeout ({counts['computed']} computed now, "
          f"{counts['skipped']} already finished) in {summary['wall_time_s']:.1f} s "
          f"on {summary['executor']}")
    ranking = summary["ranking"]
    for row in ranking["lowest"]:
        lowest = row.get("lowest_frequency_THz")
        flag = ""
        if row["imaginary_modes"]:
            flag = "  IMAGINARY" + (" (near Γ)" if row["imaginary_near_gamma_only"] else "")
        print(f"  {row['rank']:>3}  {row['id']:<20} {row['formula'] or '':<12} "
              f"{ranking['quantity']} {row[ranking['quantity']]:.4g}  lowest "
              f"{_frequency(lowest)}{flag}")
    imaginary = summary["imaginary"]
    if imaginary:
        listed = ", ".join(f"{m['id']} ({_frequency(m['lowest_frequency_THz'])}"
                           f"{', near Γ' if m['near_gamma_only'] else ''})" for m in imaginary)
        print(f"imaginary modes in {len(imaginary)} materials: {listed}")
        near = [m["id"] for m in imaginary if m["near_gamma_only"]]
        if near:
            print(f"only near Γ in {', '.join(near)}: a larger supercell (e.g. --min-length 15) "
                  "or a tighter relaxation (smaller --fmax) usually removes them")
    print(f"results in {out}/ (screen.sqlite, ranking.csv, summary.json)")


def _frequency(value) -> str:
    return "n/a" if value is None else f"{value:.3f} THz"
