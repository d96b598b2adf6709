"""Batched SevenNet force backend.

Displaced supercells share one cell and differ by small displacements, so the neighbour list
is built once per batch with a skin (``cutoff + skin``) and each structure keeps the edges
shorter than the cutoff: the same graph SevenNet's calculator would build. The graphs of a
batch go through the model in one call (a ``torch_geometric`` batch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

#: Extra neighbour-list radius (Å); displacements up to half of it keep the list exact.
DEFAULT_SKIN = 1.0


def disable_torchscript_specialization() -> None:
    """Run SevenNet's TorchScript code without the profiling executor (process-wide).

    SevenNet scripts its activation (``ShiftedSoftPlus``). TorchScript's default profiling
    executor re-profiles and re-optimizes a scripted function for every new input shape, and
    the number of neighbour pairs, hence the shapes, changes at almost every relaxation step:
    evaluations of a 4-atom cell then take seconds instead of tens of milliseconds
    (``benchmarks/relax_speed.py``). The legacy executor keeps one graph for all shapes.
    """
    import torch

    torch._C._jit_set_profiling_executor(False)
    torch._C._jit_set_profiling_mode(False)


class SevenNetBatchBackend:
    """Evaluate many structures in one SevenNet model call.

    Parameters
    ----------
    calculator
        A ``sevenn.calculator.SevenNetCalculator`` (its model, cutoff, device and modal are used).
    identity
        Cache identity of the model.
    batch_size
        Structures per model call.
    skin
        Neighbour-list skin (Å).
    """

    def __init__(self, calculator, identity: str, batch_size: int = 8,
                 skin: float = DEFAULT_SKIN):
        self.calculator = calculator
        self.identity = identity
        self.batch_size = batch_size
        self.skin = skin

    def _graphs(self, structures: Sequence[Atoms]):
        import sevenn._keys as keys
        from ase.neighborlist import primitive_neighbor_list
        from sevenn.atom_graph_data import AtomGraphData

        cutoff = float(self.calculator.cutoff)
        reference = structures[0]
        cell = np.array(reference.cell)
        src, dst, shifts = primitive_neighbor_list(
            "ijS", reference.pbc, cell, reference.positions, cutoff + self.skin,
            self_interaction=False,
        )
        offsets = shifts @ cell
        graphs = []
        for atoms in structures:
            moved = np.linalg.norm(atoms.positions - reference.positions, axis=1).max()
            same_cell = np.allclose(np.array(atoms.cell), cell) and np.array_equal(
                atoms.numbers, reference.numbers)
            if not same_cell or moved > 0.5 * self.skin:
                return None
            vectors = atoms.positions[dst] - atoms.positions[src] + offsets
            keep = np.linalg.norm(vectors, axis=1) < cutoff
            data = {
                keys.NODE_FEATURE: atoms.numbers,
                keys.ATOMIC_NUMBERS: atoms.numbers,
                keys.POS: atoms.positions,
                keys.EDGE_IDX: np.array([src[keep], dst[keep]]),
                keys.EDGE_VEC: vectors[keep],
                keys.CELL_VOLUME: np.array(atoms.cell.volume),
                keys.NUM_ATOMS: np.array(len(atoms)),
                keys.INFO: {},
            }
            graph = AtomGraphData.from_numpy_dict(data)
            if self.calculator.modal:
                graph[keys.DATA_MODALITY] = self.calculator.modal
            graphs.append(graph)
        return graphs

    def forces(self, structures: Sequence[Atoms]) -> np.ndarray:
        import sevenn._keys as keys
        from torch_geometric.data import Batch

        graphs = self._graphs(structures)
        if graphs is None:  # not displacements of one supercell: fall back to one at a time
            return np.array([self._single(atoms) for atoms in structures])
        model = self.calculator.model
        batch = Batch.from_data_list(graphs).to(self.calculator.device)
        model.set_is_batch_data(True)
        try:
            output = model(batch)
        finally:
            model.set_is_batch_data(False)
        forces = output[keys.PRED_FORCE].detach().cpu().numpy().astype(float)
        return forces.reshape(len(structures), len(structures[0]), 3)

    def _single(self, atoms: Atoms) -> np.ndarray:
        work = atoms.copy()
        work.calc = self.calculator
        return np.array(work.get_forces(), dtype=float)
