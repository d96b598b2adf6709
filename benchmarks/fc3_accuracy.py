"""FC3 against the model itself: finite-displacement and random ± fits on one κSRME compound.

For the compound's relaxed structure (the κSRME protocol's relaxation and FC3 supercell) this
fits FC3 from

``fd``
    phono3py's finite differences, symmetrized the protocol's way (``symmetrize_fc3``);
``fd-symfc``
    symfc fitted to the same finite-displacement forces;
``random``
    symfc fitted to ``--pairs`` ± pairs of random displacements;

(all three obey the permutation and translational sum rules; the unsymmetrized finite
differences do not, so they are not a tensor to test) and checks each against model forces
none of them was fitted to:

* the held-out check of :mod:`latdyn.anharmonic.holdout` (``--holdout`` ± pairs at the same
  amplitude): the residual of the even part of the forces, ``F(u) + F(-u) = -Φ3:uu``;
* ``--pair-tests`` 4-point mixed differences: a primitive atom ``i`` and another atom ``j``
  displaced by ``±d_i``, ``±d_j`` (random directions, the same amplitude), whose
  ``[F(+,+) - F(+,-) - F(-,+) + F(-,-)] / 4 = -Φ3(·, i, j) d_i d_j`` on every atom.

It prints the residuals (per pair test with the i-j distance) and, with ``--mesh``, κ (Wigner,
300 K, the protocol's FC2) from each fit.

    python benchmarks/fc3_accuracy.py --material SiC-216 --distance 0.015 --mesh 13 13 13
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--material", default="SiC-216")
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--distance", type=float, default=0.03, help="Å (default: 0.03)")
    parser.add_argument("--pairs", type=int, default=48, help="± pairs of the random fit")
    parser.add_argument("--holdout", type=int, default=8, help="held-out ± pairs")
    parser.add_argument("--pair-tests", type=int, default=10)
    parser.add_argument("--mesh", type=int, nargs=3, help="κ of every fit on this mesh")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--data-dir", help="reference data folder (default: $LATDYN_DATA_DIR)")
    args = parser.parse_args()

    import torch
    from ase.geometry import get_distances
    from phono3py import Phono3py

    from latdyn.anharmonic.holdout import HOLDOUT_SEED_OFFSET, FC3HoldoutSettings, run_fc3_holdout
    from latdyn.benchmark.reference import load_reference, select_compounds
    from latdyn.models import load_model
    from latdyn.protocols.ksrme import ksrme_settings
    from latdyn.structure.convert import to_ase_atoms, to_phonopy_atoms
    from latdyn.workflows.kappa_protocol import two_stage_relax

    torch.set_num_threads(args.threads)
    (compound,) = select_compounds(load_reference(args.data_dir), [args.material])
    settings = ksrme_settings(compound.atoms, args.model)
    calc = load_model(args.model).calculator
    relaxed = two_stage_relax(compound.atoms, calc, settings.relax_settings).final.atoms

    primitive = settings.primitive_matrix
    primitive = primitive if isinstance(primitive, str) else np.array(primitive)

    def new_phono3py() -> Phono3py:
        return Phono3py(to_phonopy_atoms(relaxed), supercell_matrix=np.array(settings.fc3.supercell.matrix),
                        primitive_matrix=primitive,
                        phonon_supercell_matrix=np.array(settings.fc2.supercell.matrix), symprec=1e-5)

    def forces(cells) -> np.ndarray:
        out = []
        for cell in cells:
            atoms = cell.copy() if hasattr(cell, "get_forces") else to_ase_atoms(cell)
            atoms.calc = calc
            out.append(atoms.get_forces())
        return np.array(out)

    fd = new_phono3py()
    perfect = to_ase_atoms(fd.supercell)
    residual = forces([perfect])[0]
    fd.generate_displacements(distance=args.distance)
    fd.forces = forces(fd.supercells_with_displacements)
    fits = {}
    fd.produce_fc3()
    fd.symmetrize_fc3()
    fits["fd"] = np.array(fd.fc3)
    fd.produce_fc3(fc_calculator="symfc")
    fits["fd-symfc"] = np.array(fd.fc3)
    random = new_phono3py()
    random.generate_displacements(distance=args.distance, number_of_snapshots=args.pairs,
                                  random_seed=0, is_plusminus=True)
    random.forces = forces(random.supercells_with_displacements) - residual[None]
    random.produce_fc3(fc_calculator="symfc")
    fits["random"] = np.array(random.fc3)
    print(f"{args.material}, {args.model}, {args.distance} Å: {len(fd.forces)} finite-"
          f"displacement supercells, {2 * args.pairs} random (± pairs)")

    held_out = {}

    def evaluate(cells):  # the same held-out supercells for every fit: evaluated once
        if "forces" not in held_out:
            held_out["forces"] = forces(cells) - residual[None]
        return held_out["forces"], len(cells)

    holdout = FC3HoldoutSettings(n_pairs=args.holdout, distance=args.distance,
                                 random_seed=HOLDOUT_SEED_OFFSET)
    names = list(fits)
    print(f"{'':28s}" + "".join(f"{n:>10s}" for n in names))
    print(f"{'held-out ± pairs, residual':28s}" + "".join(
        f"{run_fc3_holdout(fd, fits[n], evaluate, holdout).residual:10.4f}" for n in names))

    rng = np.random.default_rng(3)
    _, distances = get_distances(perfect.positions, cell=perfect.cell, pbc=True)
    p2s = np.array(fd.primitive.p2s_map)
    full = {name: _full(fd, fc3) for name, fc3 in fits.items()}
    print("4-point pair tests, residual")
    for trial in range(args.pair_tests):
        i = int(p2s[trial % len(p2s)])
        j = int(rng.choice([a for a in range(len(perfect)) if a != i]))
        d_i, d_j = (v * args.distance / np.linalg.norm(v) for v in rng.normal(size=(2, 3)))
        signed = {}
        for s_i in (1, -1):
            for s_j in (1, -1):
                cell = perfect.copy()
                cell.positions[i] += s_i * d_i
                cell.positions[j] += s_j * d_j
                signed[s_i, s_j] = forces([cell])[0]
        mixed = (signed[1, 1] - signed[1, -1] - signed[-1, 1] + signed[-1, -1]) / 4
        row = f"  atoms {i:3d}-{j:3d} at {distances[i, j]:5.2f} Å   "
        for name in names:
            predicted = -np.einsum("kcab,a,b->kc", full[name][:, i, j], d_i, d_j)
            row += f"{np.linalg.norm(mixed - predicted) / np.linalg.norm(mixed):10.4f}"
        print(row, flush=True)

    if args.mesh:
        fd.fc2 = _protocol_fc2(new_phono3py(), forces)
        print(f"{'κ (W/m/K), mesh ' + ' '.join(map(str, args.mesh)):28s}", end="")
        for name in names:
            fd.fc3 = fits[name]
            fd.mesh_numbers = args.mesh
            fd.init_phph_interaction()
            fd.run_thermal_conductivity(temperatures=[300.0], is_isotope=True,
                                        boundary_mfp=1e6, transport_type="smm19")
            result = fd.thermal_conductivity
            kappa = np.array(result.kappa_intra)[0, 0] + np.array(result.kappa_inter)[0, 0]
            print(f"{np.mean(kappa[:3]):10.2f}", end="", flush=True)
        print()


def _full(ph3, fc3: np.ndarray) -> np.ndarray:
    from phono3py.phonon3.fc3 import compact_fc3_to_full_fc3

    return compact_fc3_to_full_fc3(ph3.primitive, fc3)


def _protocol_fc2(ph3, forces) -> np.ndarray:
    """FC2 the κSRME way (0.03 Å finite displacements, phono3py's fit and symmetrization)."""
    ph3.generate_fc2_displacements(distance=0.03, is_plusminus="auto", is_diagonal=False)
    ph3.phonon_forces = forces(ph3.phonon_supercells_with_displacements)
    ph3.produce_fc2()
    ph3.symmetrize_fc2()
    return np.array(ph3.fc2)


if __name__ == "__main__":
    main()
