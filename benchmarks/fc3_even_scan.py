"""Is a model's force field a polynomial at the scale of FC3 displacements? A scan.

For each lattice constant of ``--lattice`` (the cell of ``--structure`` scaled to it, atoms at
their fractional positions) this moves every atom of the ``--dim`` supercell by ``d`` along one
fixed random direction (latdyn's held-out pattern, seed 10000) and both ways, and prints the even
part of the forces over ``d²``:

    S(d) = ‖F(d u) + F(-d u)‖ / d²     (eV/Å³)

A force field that FC3 describes at amplitude ``d`` has ``S(d) = S(0) + O(d²)``: a smooth, slow
drift (Tersoff's Si: 0.2% from 0.005 to 0.03 Å). A drift of tens of percent, or a change of
sign of the slope, within a few thousandths of an Å means that no finite-displacement amplitude
measures the model's FC3. Rows go to ``--csv``.

``--curvature A0 A1 STEP`` (float64 SevenNet) prints instead the second difference of the
primitive cell's energy over the lattice constant, ``E''(a)`` (eV/Å²), on that grid: a step in it
is a kink in the model's radial functions at a shell distance (SevenNet-0's XPLOR switching
function starts at ``cutoff_on`` = 4.5 Å, where the energy's second radial derivative jumps).

    OMP_NUM_THREADS=1 python benchmarks/fc3_even_scan.py --lattice 5.42 5.434 5.45 5.466 \\
        --csv reference_data/fc3_even_scan_Si_7net-0.csv
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np
from fc3_trust import DFT, Float64SevenNet

AMPLITUDES = (0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structure", default=str(DFT / "Si-PBE/POSCAR-unitcell"))
    parser.add_argument("--lattice", type=float, nargs="+", default=[], help="Å")
    parser.add_argument("--curvature", type=float, nargs=3, metavar=("A0", "A1", "STEP"))
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--amplitudes", type=float, nargs="+", default=AMPLITUDES)
    parser.add_argument("--csv")
    args = parser.parse_args()
    if bool(args.lattice) == bool(args.curvature):
        parser.error("give either --lattice or --curvature")

    import torch
    from ase.io import read
    from phonopy.harmonic.displacement import get_random_displacements_dataset

    from latdyn.anharmonic.holdout import HOLDOUT_SEED_OFFSET
    from latdyn.models import load_model

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = load_model(args.model)
    backend = model.backend() if args.dtype == "float32" and not args.curvature \
        else Float64SevenNet(model)
    unitcell = read(args.structure)
    rows = []
    if args.curvature:
        a0, a1, step = args.curvature
        grid = np.arange(a0, a1 + step / 2, step)
        energy = np.array([backend.energy(scaled(unitcell, a)) for a in grid])
        curvature = np.diff(energy, 2) / step**2
        for a, e, c in zip(grid[1:-1], energy[1:-1], curvature, strict=True):
            print(f"a = {a:.4f} Å  E = {e:.6f} eV  E''(a) = {c:.3f} eV/Å²")
            rows.append({"model": args.model, "dtype": "float64", "a_A": round(a, 4),
                         "energy_eV": round(e, 7), "d2E_da2_eV_per_A2": round(c, 4)})
    for a in args.lattice:
        supercell = scaled(unitcell, a).repeat(args.dim)
        direction = get_random_displacements_dataset(1, len(supercell), 1.0,
                                                     random_seed=HOLDOUT_SEED_OFFSET)[0]
        line = f"a = {a:.4f} Å  S(d), eV/Å³:"
        for d in args.amplitudes:
            moved = []
            for sign in (1, -1):
                atoms = supercell.copy()
                atoms.positions += sign * d * direction
                moved.append(atoms)
            forces = backend.forces(moved)
            s = float(np.linalg.norm(forces[0] + forces[1]) / d**2)
            rows.append({"model": args.model, "dtype": args.dtype, "a_A": a, "dim": args.dim,
                         "distance_A": d, "even_part_over_d2": round(s, 4)})
            line += f"  {d:g}: {s:.1f}"
        print(line, flush=True)
    if args.csv:
        path = Path(args.csv)
        new = not path.exists()
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            if new:
                writer.writeheader()
            writer.writerows(rows)


def scaled(unitcell, a: float):
    """``unitcell`` scaled to lattice constant ``a`` (atoms at the same fractional positions)."""
    cell = unitcell.copy()
    cell.set_cell(unitcell.cell * (a / unitcell.cell.lengths()[0]), scale_atoms=True)
    return cell


if __name__ == "__main__":
    main()
