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
    add_common_options(kappa, default_out="latdyn-benchmark-kappa")
    kappa.set_defaults(handler=run)


def _ids(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def run(args: argparse.Namespace) -> int:
    from latdyn.benchmark.output import write_benchmark
    from latdyn.benchmark.reference import load_reference, select_compounds
    from latdyn.benchmark.run import BenchmarkSettings, run_benchmark
    from latdyn.datadir import data_dir

    settings = BenchmarkSettings(model=args.model, device=args.device, workers=args.workers,
                                 retry_failed=args.retry_failed, cache_dir=args.cache_dir,
                                 use_cache=not args.no_cache, progress=not args.no_progress,
                                 symmetrize=args.symmetrize, rotations=args.rotations,
                                 fc3_method=args.fc3_method, fc3_plus_minus=args.fc3_plus_minus,
                                 fc3_convergence=args.fc3_convergence,
                                 fc3_holdout=args.fc3_holdout,
                                 kappa_kernel=args.kappa_kernel)
    compounds = select_compounds(load_reference(args.data_dir), _ids(args.materials),
                                 args.subset)
    mode_plots = select_compounds(compounds, _ids(args.mode_plots)) if args.mode_plots else None
    result = run_benchmark(compounds, args.out / "records", settings)
    if mode_plots is None:
        mode_plots = [c for c in compounds
                      if result.records[c.mp_id].get("status") == "ok"][:6]
    inputs = {"data_dir": str(data_dir(args.data_dir)), "materials": [c.mp_id for c in compounds],
              "retry_failed": args.retry_failed, "workers": args.workers}
    summary = write_benchmark(result, compounds, args.out, inputs,
                              mode_plots=[c.mp_id for c in mode_plots])
    print_report(summary, args.out)
    return 0


def print_report(summary: dict, out: Path) -> None:
    print(f"{'compound':<24} {'κ DFT':>9} {'κ MLIP':>9} {'SRE':>6} {'SRME':>6}  note")
    for row in summary["compounds"]:
        label = f"{row['name']} ({row['mp_id']})"
        print(f"{label:<24} {row['kappa_dft']:9.3f} {row['kappa_mlip']:9.3f} {row['sre']:6.3f} "
              f"{row['srme']:6.3f}  {row['reason']}")
    metrics = summary["metrics"]
    fc3 = ", ".join(f"{k}={v}" for k, v in summary["fc3"].items())
    model = f"{summary['model']} ({fc3})" if fc3 else summary["model"]
    print(f"model {model}: mean SRME {metrics['mean_srme']:.4f}, mean SRE "
          f"{metrics['mean_sre']:.4f} over {metrics['n_compounds']} compounds; failure rate "
          f"{metrics['failure_rate']:.1%}, imaginary-mode rate {metrics['imaginary_rate']:.1%}")
    print(f"{summary['n_computed']} computed, {summary['n_reused']} reused; wall time "
          f"{summary['wall_time_s']:.1f} s; results in {out}/")
