"""``latdyn benchmark kappa``: the κSRME benchmark against PhononDB-PBE (103 compounds)."""

from __future__ import annotations

import argparse
from pathlib import Path

from latdyn.cli.options import (
    add_cache_options,
    add_common_options,
    add_kappa_kernel_option,
    add_progress_options,
    positive_float,
)
from latdyn.cli.symmetrize_options import add_symmetrize_options


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="benchmarks against DFT (κSRME)",
        description="Benchmark an MLIP against DFT reference data.",
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True,
                                  parser_class=type(parser))
    kappa = tasks.add_parser(
        "kappa",
        help="κSRME: κ of the 103 PhononDB-PBE compounds against DFT",
        description="Run the κSRME protocol (latdyn kappa --protocol ksrme) over the PhononDB-PBE "
        "compounds of the data folder's ksrme/ and score κ_SRD, κ_SRE and the mode-resolved "
        "κ_SRME against DFT (Póta et al., arXiv 2408.00755). Each compound's record is written to "
        "OUT/records/ when it finishes and reused by later runs (resume); failures score 2.",
    )
    selection = kappa.add_mutually_exclusive_group()
    selection.add_argument("--materials", default=None, metavar="ID,...",
                           help="comma-separated mp_ids or formulas (BN-186 picks one "
                           "structure type)")
    selection.add_argument("--subset", type=int, default=None, metavar="N",
                           help="N compounds spread over the structure types (6: the first "
                           "two rocksalts, zincblendes and wurtzites of the set)")
    kappa.add_argument("--workers", type=int, default=1,
                       help="compounds computed at once in separate processes "
                       "(default: %(default)s)")
    kappa.add_argument("--shard", default=None, metavar="I/N",
                       help="compute only shard I of N of the selected compounds (every N-th "
                       "from the I-th); the records are those of a single run, join them with "
                       "`latdyn benchmark merge`")
    kappa.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the compounds as tasks on the Dask scheduler at ADDRESS "
                       "(e.g. tcp://host:8786; start workers with --nthreads 1); --workers is "
                       "then unused")
    kappa.add_argument("--retry-failed", action="store_true",
                       help="recompute compounds whose record says they failed")
    kappa.add_argument("--mode-plots", default=None, metavar="ID,...",
                       help="compounds for the mode-resolved κ figure (default: each computed "
                       "compound, at most 6)")
    kappa.add_argument("--data-dir", type=Path, default=None,
                       help="reference data folder (default: $LATDYN_DATA_DIR or "
                       "~/.local/share/latdyn)")
    add_cache_options(kappa)
    add_progress_options(kappa)
    kappa.add_argument("--fc3-method", choices=["fd", "random"], default="fd",
                       help="fd: the protocol's finite displacements (default); random: random "
                       "displacements fitted with symfc (records say so)")
    kappa.add_argument("--fc3-plus-minus", action="store_true",
                       help="random FC3: each pattern and its opposite")
    kappa.add_argument("--fc3-convergence", type=positive_float, metavar="TOL",
                       help="random FC3: double the patterns until κ on a half-density mesh "
                       "changes by at most TOL")
    add_kappa_kernel_option(kappa)
    kappa.add_argument("--fc3-holdout", type=int, default=0, metavar="N",
                       help="check every compound's FC3 on N held-out ± pairs of random "
                       "displacements (the residual goes in its record and the table)")
    add_symmetrize_options(kappa)
    _add_report_options(kappa)
    add_common_options(kappa, default_out="latdyn-benchmark-kappa")
    kappa.set_defaults(handler=run)

    merge = tasks.add_parser(
        "merge",
        help="join the records of benchmark shards or runs and report them",
        description="Copy the records of benchmark output (or records) folders into OUT/records "
        "and write the report of the joined set. Records of different models or settings are "
        "refused; a compound in several folders keeps its successful record.",
    )
    merge.add_argument("runs", nargs="+", type=Path, metavar="DIR",
                       help="benchmark output folders (or their records/)")
    _add_report_options(merge)
    _add_folder_options(merge)
    merge.set_defaults(handler=run_merge)

    report = tasks.add_parser(
        "report",
        help="report a benchmark run from its records (nothing is computed)",
        description="Score the records of a benchmark run (finished or still running) and write "
        "the table, leaderboard-style files, metrics, report and figures to OUT.",
    )
    report.add_argument("run", type=Path, metavar="DIR",
                        help="benchmark output folder (or its records/)")
    _add_report_options(report)
    _add_folder_options(report)
    report.set_defaults(handler=run_report)


def _add_report_options(parser) -> None:
    from latdyn.benchmark.explain import BAD_SRME

    parser.add_argument("--compare-with", type=Path, default=None, metavar="DIR",
                        help="a second run (output or records folder) overlaid in the compare "
                        "and cumulative SRME figures")
    parser.add_argument("--bad-srme", type=positive_float, default=BAD_SRME, metavar="X",
                        help="SRME from which a compound is listed and explained as badly "
                        "scored (default: %(default)s)")


def _add_folder_options(parser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="reference data folder (default: $LATDYN_DATA_DIR or "
                        "~/.local/share/latdyn)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder (its records/ for merge)")
    parser.add_argument("--debug", action="store_true",
                        help="debug logging and full tracebacks on errors")


def _ids(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _comparison(path: Path | None, compounds):
    """``(name, result)`` of the run at ``path`` scored on ``compounds`` (``None`` without a
    path); the name is its folder's."""
    from latdyn.benchmark.run import load_benchmark, records_folder

    if path is None:
        return None
    return _run_name(path), load_benchmark(compounds, records_folder(path))[0]


def _run_name(path: Path) -> str:
    """The name of the run folder at ``path`` (an output folder or its records/)."""
    from latdyn.benchmark.run import records_folder

    folder = records_folder(path)
    return (folder.parent if folder.name == "records" else folder).resolve().name


def _report_settings(args: argparse.Namespace, reference):
    from latdyn.benchmark.output import ReportSettings

    return ReportSettings(bad_srme=args.bad_srme, n_reference=len(reference))


def run(args: argparse.Namespace) -> int:
    from latdyn.benchmark.output import write_benchmark
    from latdyn.benchmark.reference import load_reference, select_compounds
    from latdyn.benchmark.run import (
        BenchmarkSettings,
        parse_shard,
        run_benchmark,
        shard_compounds,
    )
    from latdyn.datadir import data_dir

    settings = BenchmarkSettings(model=args.model, device=args.device, workers=args.workers,
                                 retry_failed=args.retry_failed, cache_dir=args.cache_dir,
                                 use_cache=not args.no_cache, progress=not args.no_progress,
                                 symmetrize=args.symmetrize, rotations=args.rotations,
                                 fc3_method=args.fc3_method, fc3_plus_minus=args.fc3_plus_minus,
                                 fc3_convergence=args.fc3_convergence,
                                 fc3_holdout=args.fc3_holdout,
                                 kappa_kernel=args.kappa_kernel, scheduler=args.scheduler)
    shard = parse_shard(args.shard) if args.shard else None
    reference = load_reference(args.data_dir)
    compounds = select_compounds(reference, _ids(args.materials), args.subset)
    if shard is not None:
        compounds = shard_compounds(compounds, *shard)
    compare = _comparison(args.compare_with, reference)
    mode_plots = select_compounds(compounds, _ids(args.mode_plots)) if args.mode_plots else None
    result = run_benchmark(compounds, args.out / "records", settings)
    if mode_plots is None:
        mode_plots = [c for c in compounds
                      if result.records[c.mp_id].get("status") == "ok"][:6]
    inputs = {"data_dir": str(data_dir(args.data_dir)), "materials": [c.mp_id for c in compounds],
              "retry_failed": args.retry_failed, "workers": args.workers,
              "shard": args.shard, "scheduler": args.scheduler}
    summary = write_benchmark(result, compounds, args.out, inputs,
                              mode_plots=[c.mp_id for c in mode_plots], compare=compare,
                              report=_report_settings(args, reference),
                              name=args.out.resolve().name)
    print_report(summary, args.out)
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from latdyn.benchmark.run import merge_records

    merged = merge_records(args.runs, args.out / "records")
    duplicates = f"; in several folders: {', '.join(merged.duplicates)}" if merged.duplicates \
        else ""
    print(f"{merged.n_copied} records of {merged.label} merged into {args.out}/records "
          f"({merged.n_records} in all){duplicates}")
    _report(args, args.out, "benchmark merge", {"runs": [str(p) for p in args.runs]})
    return 0


def run_report(args: argparse.Namespace) -> int:
    _report(args, args.run, "benchmark report", {"run": str(args.run)})
    return 0


def _report(args: argparse.Namespace, run_dir: Path, command: str, inputs: dict) -> None:
    """Score the records of ``run_dir`` and write the report to ``args.out``."""
    from latdyn.benchmark.output import write_benchmark
    from latdyn.benchmark.reference import load_reference
    from latdyn.benchmark.run import load_benchmark, records_folder
    from latdyn.datadir import data_dir

    reference = load_reference(args.data_dir)
    result, compounds = load_benchmark(reference, records_folder(run_dir))
    compare = _comparison(args.compare_with, reference)
    inputs = {"data_dir": str(data_dir(args.data_dir)), **inputs,
              "compare_with": None if args.compare_with is None else str(args.compare_with)}
    summary = write_benchmark(result, compounds, args.out, inputs, compare=compare,
                              report=_report_settings(args, reference), command=command,
                              name=_run_name(run_dir))
    print_report(summary, args.out)


def print_report(summary: dict, out: Path) -> None:
    print(f"{'compound':<24} {'κ DFT':>9} {'κ MLIP':>9} {'SRE':>6} {'SRME':>6}  note")
    for row in summary["compounds"]:
        label = f"{row['name']} ({row['mp_id']})"
        print(f"{label:<24} {row['kappa_dft']:9.3f} {row['kappa_mlip']:9.3f} {row['sre']:6.3f} "
              f"{row['srme']:6.3f}  {'; '.join(filter(None, (row['cause'], row['reason'])))}")
    metrics = summary["metrics"]
    fc3 = ", ".join(f"{k}={v}" for k, v in summary["fc3"].items())
    model = f"{summary['model']} ({fc3})" if fc3 else summary["model"]
    print(f"model {model}: mean SRME {metrics['mean_srme']:.4f}, mean SRE "
          f"{metrics['mean_sre']:.4f} over {metrics['n_compounds']} compounds; failed or "
          f"broke symmetry {metrics['failure_rate']:.1%}, imaginary modes "
          f"{metrics['imaginary_rate']:.1%}")
    board = summary["leaderboard_metrics"]
    print("leaderboard numbers: " + ", ".join(
        f"{key} {value:.4f}" for key, value in board.items() if key != "n_compounds"))
    for kind, block in summary["by_structure_type"].items():
        print(f"  {kind} ({block['n_compounds']}): κ_SRME {block['κ_SRME']:.4f}, κ_SRE "
              f"{block['κ_SRE']:.4f}, κ_SRD {block['κ_SRD']:+.4f}")
    print(f"{summary['n_computed']} computed, {summary['n_reused']} reused; wall time "
          f"{summary['wall_time_s']:.1f} s, compute time of the compounds "
          f"{summary['compute_time_s']:.1f} s; results in {out}/ (report.md)")
