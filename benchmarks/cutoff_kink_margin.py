"""Which κSRME compounds have a neighbour shell near a model's non-smooth radius?

SevenNet-0 (7net-0, 7net-mf-0) switches edges off with the XPLOR function from ``cutoff_on``
= 4.5 Å to 5.0 Å; XPLOR is only once differentiable at 4.5 Å, so an FC3 measured with
displacements that carry a pair across 4.5 Å is not the model's (see
``reference_data/fc3_trust_Si_7net-0.md``). A random ± pattern or a finite-displacement pair of
amplitude ``d`` changes a pair distance by up to ``2d``. This prints, per compound of the
reference set (its PBE structure, scaled by ``--strain`` to mimic a model's lattice constant),
the margin ``min |r_ij - r_on|`` and whether it is below ``2d`` for each ``--distance``.

    python benchmarks/cutoff_kink_margin.py --csv reference_data/cutoff_kink_margin_7net-0.csv
"""

from __future__ import annotations

import argparse
import csv

import numpy as np


def kink_margin(atoms, radius: float, reach: float = 0.5) -> tuple[float, float]:
    """``min |r_ij - radius|`` over all pairs (Å) and the nearest such distance ``r_ij``."""
    from ase.neighborlist import neighbor_list

    distances = neighbor_list("d", atoms, radius + reach)
    if len(distances) == 0:
        return float("inf"), float("nan")
    nearest = distances[np.argmin(np.abs(distances - radius))]
    return float(abs(nearest - radius)), float(nearest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radius", type=float, default=4.5, help="non-smooth radius, Å")
    parser.add_argument("--distance", type=float, nargs="+", default=[0.01, 0.03],
                        help="FC3 amplitudes, Å")
    parser.add_argument("--strain", type=float, default=0.0,
                        help="isotropic strain applied to the PBE structures (e.g. 0.01)")
    parser.add_argument("--data-dir")
    parser.add_argument("--csv")
    args = parser.parse_args()

    from latdyn.benchmark.reference import load_reference

    rows = []
    for compound in load_reference(args.data_dir):
        atoms = compound.atoms.copy()
        atoms.set_cell(atoms.cell * (1 + args.strain), scale_atoms=True)
        margin, nearest = kink_margin(atoms, args.radius)
        row = {"mp_id": compound.mp_id, "name": compound.name, "strain": args.strain,
               "nearest_pair_A": round(nearest, 4), "margin_A": round(margin, 4)}
        for d in args.distance:
            row[f"crosses_at_{d:g}A"] = margin < 2 * d
        rows.append(row)
    rows.sort(key=lambda r: r["margin_A"])
    for d in args.distance:
        n = sum(r[f"crosses_at_{d:g}A"] for r in rows)
        print(f"d = {d:g} Å: {n} of {len(rows)} compounds have a pair within {2 * d:g} Å of "
              f"{args.radius} Å")
    for row in rows[:15]:
        print(f"  {row['mp_id']:>12s} {row['name']:>8s}  pair at {row['nearest_pair_A']:.3f} Å, "
              f"margin {row['margin_A']:.3f} Å")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
