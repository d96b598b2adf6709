"""The committed κSRME table and report of a benchmark run, from its records (nothing computed).

Reads a run's records folder (``OUT/records`` of ``latdyn benchmark kappa``; it may still be
growing), scores the compounds it holds against the DFT reference and writes the per-compound
table (the columns of :data:`latdyn.benchmark.report.TABLE_COLUMNS`) and the Markdown report
(scores overall and per structure type, wall time, one line per badly scored compound):

    python benchmarks/ksrme_table.py /work/bench/7net-0-fast \\
        --table reference_data/ksrme_7net-0_fast.csv --report reference_data/ksrme_7net-0_fast.md

``latdyn benchmark report DIR --out OUT`` writes the same table and report together with the
leaderboard-style files and the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from latdyn.benchmark.explain import BAD_SRME
from latdyn.benchmark.output import write_table
from latdyn.benchmark.reference import load_reference
from latdyn.benchmark.report import markdown_report, metrics_block, table_rows, wall_times
from latdyn.benchmark.run import load_benchmark, records_folder
from latdyn.files import atomic_open


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="benchmark output folder or its records/")
    parser.add_argument("--table", type=Path, required=True, help="CSV to write")
    parser.add_argument("--report", type=Path, required=True, help="Markdown to write")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="reference data (default: $LATDYN_DATA_DIR or the data folder)")
    parser.add_argument("--bad-srme", type=float, default=BAD_SRME)
    args = parser.parse_args()

    reference = load_reference(args.data_dir)
    result, compounds = load_benchmark(reference, records_folder(args.run))
    rows = table_rows(result, compounds, bad_srme=args.bad_srme)
    write_table(rows, args.table)
    metrics = metrics_block(result, len(reference))
    with atomic_open(args.report, "w") as handle:
        handle.write(markdown_report(rows, metrics, wall_times(result), result.label,
                                     bad_srme=args.bad_srme))
    board = metrics["phonons"]["kappa_103"]
    print(f"{len(rows)} of {len(reference)} compounds: " + ", ".join(
        f"{key} {value:.4f}" for key, value in board.items() if key != "n_compounds"))
    print(f"wrote {args.table} and {args.report}")


if __name__ == "__main__":
    main()
