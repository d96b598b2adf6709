"""``latdyn data fetch``: download the public reference data (κSRME set, DFT datasets)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="reference data: download with checksums",
        description="Manage the reference data folder (--data-dir, $LATDYN_DATA_DIR or "
        "~/.local/share/latdyn).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                    parser_class=type(parser))
    fetch = actions.add_parser(
        "fetch",
        help="download the files of reference_data/manifest.json and check their sha256",
        description="Download the κSRME set and the DFT example datasets from their public "
        "sources into the data folder; files already there with the right checksum are kept.",
    )
    fetch.add_argument("--data-dir", type=Path, default=None,
                       help="data folder (default: $LATDYN_DATA_DIR or ~/.local/share/latdyn)")
    fetch.add_argument("--only", default=None, metavar="PREFIX",
                       help="fetch only paths starting with PREFIX (ksrme/ or dft/)")
    fetch.add_argument("--manifest", type=Path, default=None,
                       help="manifest file (default: reference_data/manifest.json)")
    fetch.add_argument("--timeout", type=float, default=60.0,
                       help="network timeout per request, s (default: %(default)s)")
    fetch.add_argument("--debug", action="store_true", help="full tracebacks on errors")
    fetch.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from latdyn.benchmark.fetch import fetch, read_manifest
    from latdyn.datadir import data_dir

    manifest = read_manifest(args.manifest)
    report = fetch(data_dir(args.data_dir), manifest, only=args.only, timeout=args.timeout)
    print(f"{len(report.downloaded)} file(s) downloaded, {len(report.present)} already present "
          f"in {report.data_dir}")
    return 0
