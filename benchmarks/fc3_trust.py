"""How far an FC3 fitted to a model's forces can be trusted: held-out residual and κ per fit.

For one unit cell (default: phono3py's Si-PBE example), an FC3 supercell of ``--dim`` times the
given cell and one displacement amplitude ``--distance``, this fits FC3 from the model's forces

``fd``
    phono3py's finite-displacement pairs, with ``--solvers`` (``traditional``: phono3py's finite
    differences then ``symmetrize_fc3``; ``symfc``: a symfc fit to the same forces);
``random``
    symfc fitted to the first ``P`` of the ± pairs of random displacements (every atom moved
    by ``--distance``), for each ``P`` of ``--pairs`` (nested sets: doubling ``P`` adds pairs,
    so the force cache serves the smaller ones);

and checks each against ``--holdout`` held-out ± pairs (latdyn's check,
:mod:`latdyn.anharmonic.holdout`: ``‖E - E_FC3‖ / ‖E‖`` of the even part
``E = F(u) + F(-u)``), then, with ``--mesh``, computes κ (RTA, isotopes, 300 K) from each fit
with one fixed FC2 (finite displacements of ``--fc2-distance``, default 0.03 Å, on the
``--fc2-dim`` supercell, phono3py's solver and symmetrization: the FC2 of ``latdyn compare`` on
this cell).

``--dtype float64`` evaluates SevenNet in double precision (the checkpoint's weights cast to
float64); its forces are cached under their own identity. ``--even-scaling D1 D2 ...`` prints,
with no fit, how the even part of the held-out pairs scales with the amplitude:
``E(d) / d²`` is constant when FC3 alone makes it, and its drift from the smallest amplitude
is the fifth-order (and higher) share. ``--noise`` prints the float32 round-off of the forces
(float32 against float64 on the held-out cells, and float32 with the atoms listed in reverse).
``--dft`` fits the example's own DFT forces (``FORCES_FC3``) instead of the model's.

Each fit is one CSV row appended to ``--csv``.

    OMP_NUM_THREADS=1 python benchmarks/fc3_trust.py --dim 2 --distance 0.03 --fc3 fd random \\
        --pairs 8 16 32 64 --mesh 11 11 11 --csv reference_data/fc3_trust_Si_7net-0.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np


def _dft_examples() -> Path:
    """phono3py's examples in latdyn's data folder, else in ``../shared/reference_data``."""
    from latdyn.datadir import data_dir

    folder = data_dir() / "dft" / "phono3py"
    if folder.is_dir():
        return folder
    return Path(__file__).resolve().parents[2] / "shared/reference_data/dft/phono3py"


DFT = _dft_examples()
FIELDS = ("structure", "a_A", "model", "dtype", "dim", "n_atoms", "distance_A", "fc3", "solver",
          "pairs", "n_supercells", "holdout_pairs", "holdout_residual", "kappa_W_mK", "mesh",
          "fc2", "seconds_fit", "note")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structure", default=str(DFT / "Si-PBE/POSCAR-unitcell"))
    parser.add_argument("--primitive", default="auto", help="phono3py primitive matrix")
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--dim", type=int, default=2, help="FC3 supercell (times the cell)")
    parser.add_argument("--fc2-dim", type=int, default=2, help="FC2 supercell (times the cell)")
    parser.add_argument("--distance", type=float, default=0.03, help="Å (default: 0.03)")
    parser.add_argument("--fc2-distance", type=float, default=0.03, help="Å (default: 0.03)")
    parser.add_argument("--fc3", nargs="*", choices=("fd", "random"), default=["fd", "random"])
    parser.add_argument("--solvers", nargs="+", choices=("traditional", "symfc"),
                        default=["traditional", "symfc"], help="solvers of the fd fit")
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--holdout", type=int, default=8, help="held-out ± pairs")
    parser.add_argument("--mesh", type=int, nargs=3)
    parser.add_argument("--even-scaling", type=float, nargs="+", metavar="D")
    parser.add_argument("--noise", action="store_true")
    parser.add_argument("--dft", action="store_true", help="the example's DFT forces (fd only)")
    parser.add_argument("--csv")
    parser.add_argument("--note", default="")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from ase.io import read

    from latdyn.anharmonic.holdout import (
        HOLDOUT_SEED_OFFSET,
        FC3HoldoutSettings,
        displaced_supercells,
        even_part_residual,
        holdout_displacements,
    )
    from latdyn.forces.cache import ForceCache
    from latdyn.forces.evaluate import evaluate_forces
    from latdyn.models import load_model

    unitcell = read(args.structure)
    model = load_model(args.model)
    backend = model.backend() if args.dtype == "float32" else Float64SevenNet(model)
    cache = ForceCache()

    def forces(cells, desc) -> np.ndarray:
        return np.array(evaluate_forces(backend, cells, cache, progress=False, desc=desc).forces)

    ph3 = new_phono3py(unitcell, args.dim, args.fc2_dim, args.primitive)
    n_atoms = len(ph3.supercell)
    residual = forces([to_atoms(ph3.supercell)], "perfect")[0]
    print(f"{Path(args.structure).parent.name}: a = {unitcell.cell.lengths()[0]:.4f} Å, FC3 "
          f"supercell {args.dim}x (n = {n_atoms}), {args.model} {args.dtype}, d = "
          f"{args.distance} Å; max residual force {np.abs(residual).max():.2e} eV/Å", flush=True)

    holdout = FC3HoldoutSettings(n_pairs=args.holdout, distance=args.distance,
                                 random_seed=HOLDOUT_SEED_OFFSET)
    u_hold = holdout_displacements(n_atoms, holdout)
    f_hold = forces(displaced_supercells(ph3, u_hold), "held-out") - residual
    if args.noise:
        print_noise(model, backend, displaced_supercells(ph3, u_hold), f_hold + residual)
    if args.even_scaling:
        print_even_scaling(ph3, args.even_scaling, args.holdout,
                           lambda c: forces(c, "scaling") - residual)

    fc2 = None
    if args.mesh:
        fc2 = protocol_fc2(unitcell, args.fc2_dim, args.fc2_distance, args.primitive,
                           lambda c: forces(c, "fc2"),
                           args.structure if args.dft else None)
    base = {"structure": Path(args.structure).parent.name, "a_A": round(unitcell.cell.lengths()[0], 4),
            "model": "DFT" if args.dft else args.model, "dtype": "-" if args.dft else args.dtype,
            "dim": args.dim, "n_atoms": n_atoms, "distance_A": args.distance,
            "holdout_pairs": args.holdout, "mesh": "x".join(map(str, args.mesh or [])),
            "fc2": f"fd {0.03 if args.dft else args.fc2_distance} traditional",
            "note": args.note}
    rows = []

    def report(fit: dict, fc3: np.ndarray, fitted: object) -> None:
        res = "" if args.dft else round(even_part_residual(fc3, ph3.primitive, u_hold,
                                                           f_hold)[0], 5)
        kappa = ""
        if fc2 is not None:
            kappa = round(kappa_300(fitted, fc2, fc3, args.mesh), 2)
        row = {**base, **fit, "holdout_residual": res, "kappa_W_mK": kappa}
        rows.append(row)
        print(f"  {row['fc3']:6s} {row['solver']:11s} pairs {str(row['pairs']):>4s} "
              f"({row['n_supercells']:4d} cells, fit {row['seconds_fit']:6.1f} s): held-out "
              f"residual {res}  κ {kappa}", flush=True)

    if "fd" in args.fc3:
        if args.dft:
            fd = dft_phono3py(args.structure)
            f_fd = np.array(fd.forces)
        else:
            fd = new_phono3py(unitcell, args.dim, args.fc2_dim, args.primitive)
            fd.generate_displacements(distance=args.distance)
            f_fd = forces(list(map(to_atoms, fd.supercells_with_displacements)), "fd") - residual
        for solver in args.solvers:
            start = time.perf_counter()
            fd.forces = f_fd
            fd.produce_fc3(fc_calculator=solver)
            if solver == "traditional":
                fd.symmetrize_fc3()
            report({"fc3": "fd", "solver": solver, "pairs": "", "n_supercells": len(f_fd),
                    "seconds_fit": round(time.perf_counter() - start, 1)}, np.array(fd.fc3), fd)
    if "random" in args.fc3 and not args.dft:
        from phonopy.harmonic.displacement import get_random_displacements_dataset

        u_all = get_random_displacements_dataset(max(args.pairs), n_atoms, args.distance,
                                                 random_seed=0, is_plusminus=True)
        half = max(args.pairs)
        for pairs in sorted(args.pairs):
            u = np.concatenate([u_all[:pairs], u_all[half:half + pairs]])
            f = forces(displaced_supercells(ph3, u), f"random {pairs}") - residual
            start = time.perf_counter()
            ph3.dataset = {"natom": n_atoms, "displacements": u, "forces": f}
            ph3.produce_fc3(fc_calculator="symfc")
            report({"fc3": "random", "solver": "symfc", "pairs": str(pairs),
                    "n_supercells": len(u), "seconds_fit": round(time.perf_counter() - start, 1)},
                   np.array(ph3.fc3), ph3)
    if args.csv and rows:
        path = Path(args.csv)
        new = not path.exists()
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            writer.writerows(rows)


def new_phono3py(unitcell, dim: int, fc2_dim: int, primitive: str):
    from phono3py import Phono3py

    from latdyn.structure.convert import to_phonopy_atoms

    return Phono3py(to_phonopy_atoms(unitcell), supercell_matrix=np.eye(3, dtype=int) * dim,
                    phonon_supercell_matrix=np.eye(3, dtype=int) * fc2_dim,
                    primitive_matrix=primitive, symprec=1e-5)


def to_atoms(cell):
    from latdyn.structure.convert import to_ase_atoms

    return to_ase_atoms(cell)


def dft_phono3py(structure: str):
    """The example's phono3py object with its DFT FORCES_FC3 (no force constants yet)."""
    import phono3py

    folder = Path(structure).parent
    return phono3py.load(folder / "phono3py_disp.yaml", forces_fc3_filename=folder / "FORCES_FC3",
                         produce_fc=False, log_level=0)


def protocol_fc2(unitcell, fc2_dim: int, distance: float, primitive: str, forces,
                 dft: str | None) -> np.ndarray:
    """FC2 from finite displacements of ``distance`` (Å) on the FC2 supercell (phono3py's solver and
    symmetrization); with ``dft`` (the structure file), from the example's FC3 set's single
    displacements, as ``phono3py-load`` does."""
    if dft:
        ph3 = dft_phono3py(dft)
        ph3.produce_fc2(fc_calculator="traditional")
        ph3.symmetrize_fc2()
    else:
        ph3 = new_phono3py(unitcell, fc2_dim, fc2_dim, primitive)
        ph3.generate_fc2_displacements(distance=distance, is_plusminus="auto")
        ph3.phonon_forces = forces(list(map(to_atoms, ph3.phonon_supercells_with_displacements)))
        ph3.produce_fc2(fc_calculator="traditional")
        ph3.symmetrize_fc2()
    return np.array(ph3.fc2)


def kappa_300(ph3, fc2: np.ndarray, fc3: np.ndarray, mesh) -> float:
    """Trace-averaged κ at 300 K (RTA, isotopes; latdyn's kernel), W/m/K."""
    from latdyn.kappa.conductivity import KappaSettings, run_kappa

    ph3.fc2 = fc2
    ph3.fc3 = fc3
    result = run_kappa(ph3, KappaSettings(mesh=tuple(mesh), temperatures=(300.0,)))
    return float(result.kappa_trace_average[0])


def print_even_scaling(ph3, distances, n_pairs: int, forces) -> None:
    """``E(d) / d²`` of the held-out directions at each amplitude, relative to the smallest."""
    from latdyn.anharmonic.holdout import (
        HOLDOUT_SEED_OFFSET,
        FC3HoldoutSettings,
        displaced_supercells,
        holdout_displacements,
    )

    scaled = {}
    for d in sorted(distances):
        u = holdout_displacements(len(ph3.supercell), FC3HoldoutSettings(
            n_pairs=n_pairs, distance=d, random_seed=HOLDOUT_SEED_OFFSET))
        f = forces(displaced_supercells(ph3, u))
        scaled[d] = (f[:n_pairs] + f[n_pairs:]) / d**2
    smallest = scaled[min(scaled)]
    for d, value in scaled.items():
        drift = np.linalg.norm(value - smallest) / np.linalg.norm(smallest)
        print(f"  even part at d = {d:.4f} Å: |E|/d² = {np.linalg.norm(value):9.3f} eV/Å³, "
              f"drift from d = {min(scaled):.4f} Å: {drift:.4f}", flush=True)


def print_noise(model, backend, cells, f_model) -> None:
    """Float32 round-off of the forces on ``cells``: against float64, and atoms reversed."""
    exact = Float64SevenNet(model).forces(cells[:2]) if backend.__class__ is not \
        Float64SevenNet else None
    reverse, ase_calc = [], []
    for cell in cells[:2]:
        work = cell.copy()
        work.calc = model.calculator
        ase_calc.append(work.get_forces())
        flipped = cell[::-1]
        reverse.append(backend.forces([flipped])[0][::-1])
    n = len(cells) // 2
    even = f_model[:n] + f_model[n:]
    scale = np.linalg.norm(even[0])
    print(f"  force noise on a held-out cell: |F(reversed order) - F| = "
          f"{np.linalg.norm(np.array(reverse) - f_model[:2]) / np.sqrt(2):.2e} eV/Å"
          + f", |F(latdyn backend) - F(SevenNetCalculator)| = "
          f"{np.linalg.norm(np.array(ase_calc) - f_model[:2]) / np.sqrt(2):.2e} eV/Å"
          + ("" if exact is None else
             f", |F32 - F64| = {np.linalg.norm(f_model[:2] - exact) / np.sqrt(2):.2e} eV/Å")
          + f"; |even part| of a pair {scale:.2e} eV/Å", flush=True)


class Float64SevenNet:
    """SevenNet evaluated in float64: the checkpoint's weights cast to double (a separate model
    instance; the one-hot embedding, which SevenNet makes float32, is cast too)."""

    batch_size = 1

    def __init__(self, model):
        import torch
        from sevenn import util
        from sevenn.nn.node_embedding import OnehotEmbedding

        from latdyn.forces.sevenn import SevenNetBatchBackend

        self.graphs = SevenNetBatchBackend(model.calculator, model.identity, batch_size=1)
        self.identity = model.identity.replace("|float32|", "|float64|") + "|cast-to-float64"
        checkpoint = util.load_checkpoint(model.name)
        checkpoint._model_state_dict = {
            k: v.double() if torch.is_tensor(v) and v.is_floating_point() else v
            for k, v in checkpoint.model_state_dict.items()}
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            self.model = checkpoint.build_model().double().eval()
        finally:
            torch.set_default_dtype(previous)
        for module in self.model.modules():
            if isinstance(module, OnehotEmbedding):
                module.forward = _double_output(module)

    def _output(self, atoms) -> dict:
        import sevenn._keys as keys
        import torch
        from torch_geometric.data import Batch

        batch = Batch.from_data_list(self.graphs._graphs([atoms]))
        for key in batch.keys():  # noqa: SIM118 (a PyG Batch iterates over items)
            if torch.is_tensor(batch[key]) and batch[key].is_floating_point():
                batch[key] = batch[key].double()
        batch[keys.POS] = torch.from_numpy(np.array(atoms.positions, dtype=float))
        batch[keys.EDGE_VEC] = torch.from_numpy(_edge_vectors(self.graphs, atoms))
        self.model.set_is_batch_data(True)
        try:
            return self.model(batch)
        finally:
            self.model.set_is_batch_data(False)

    def forces(self, structures) -> np.ndarray:
        import sevenn._keys as keys

        return np.array([self._output(atoms)[keys.PRED_FORCE].detach().numpy().reshape(
            len(atoms), 3) for atoms in structures])

    def energy(self, atoms) -> float:
        """Total energy (eV)."""
        import sevenn._keys as keys

        return float(self._output(atoms)[keys.PRED_TOTAL_ENERGY].detach().sum())


def _edge_vectors(graphs, atoms) -> np.ndarray:
    """The edge vectors of ``atoms`` in float64 (SevenNet's graph stores them as float32)."""
    from ase.neighborlist import primitive_neighbor_list

    cutoff = float(graphs.calculator.cutoff)
    src, dst, shifts = primitive_neighbor_list("ijS", atoms.pbc, np.array(atoms.cell),
                                               atoms.positions, cutoff + graphs.skin,
                                               self_interaction=False)
    vectors = atoms.positions[dst] - atoms.positions[src] + shifts @ np.array(atoms.cell)
    return vectors[np.linalg.norm(vectors, axis=1) < cutoff]


def tersoff_si():
    """A short-ranged classical control: Tersoff's Si potential (PRB 38, 9902 (1988), the
    Si(C) set; 3 Å cutoff), as a ``--model benchmarks.fc3_trust:tersoff_si`` import path."""
    from ase.calculators.tersoff import Tersoff, TersoffParameters

    calc = Tersoff({("Si", "Si", "Si"): TersoffParameters(
        m=3.0, gamma=1.0, lambda3=0.0, c=100390.0, d=16.217, h=-0.59825, n=0.78734,
        beta=1.1e-6, lambda2=1.73222, B=471.18, R=2.85, D=0.15, lambda1=2.4799, A=1830.8)})
    calc.latdyn_identity = "tersoff-Si(C)-1988"
    return calc


def _double_output(module):
    forward = module.forward

    def double(data):
        data = forward(data)
        for key in (module.key_output, module.key_additional_output):
            if key is not None:
                data[key] = data[key].double()
        return data

    return double


if __name__ == "__main__":
    main()
