"""κ pipeline speed: the κSRME protocol done the plain way against latdyn, in one invocation.

For each compound of the κSRME set (by name, e.g. ``MgO``) this runs, each in its own process
(so peak memory is measured per run) with the same model and thread count:

``reference``
    the published protocol done the plain way: two-stage relaxation, every phono3py
    finite-displacement supercell evaluated one at a time through the model's ASE calculator,
    phono3py's own FC2/FC3 (finite differences + symmetrization) and Wigner-RTA κ.
``latdyn`` variants
    ``latdyn-fd``: the same displacements and fits through latdyn (batched backend, force
    constants fitted as ``fc_solver="auto"`` does: phono3py's finite differences for finite
    displacements, symfc for random ones);
    ``latdyn-random:N``: FC3 from N random-displacement supercells fitted with symfc
    (``latdyn-random:auto``: phono3py's estimate of how many are needed);
    modifiers joined with ``+``: ``fc2random:M`` (FC2 from M random-displacement supercells),
    ``kworkers:W`` (the κ step shared among W local Dask workers), ``symfc`` (symfc for the
    finite-displacement fits too), ``pm`` (random FC3 patterns evaluated as ± pairs, N pairs),
    ``fc2pm`` (random FC2 patterns as ± pairs), ``conv:TOL`` (FC3 patterns doubled from twice symfc's minimum until the half-mesh κ
    changes by at most TOL; its levels are printed).

``--holdout N`` adds, for every run, the FC3 held-out check (:mod:`latdyn.anharmonic.holdout`):
N ± pairs of random displacements at the FC3 amplitude that no fit saw, and the residual of the
even part of their forces as the run's FC3 predicts it, a measure of FC3 against the model
itself. Its time is reported apart and is not part of any stage.

and prints per compound: wall time per stage, the ratio against the reference, model
evaluations and atoms evaluated, κ and its relative difference, and peak memory.

    python benchmarks/kappa_speed.py --materials MgO --variants latdyn-fd \
        latdyn-random:16+fc2random:1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _ksrme_atoms(name: str, data_dir: str | None):
    """The κSRME structure called ``name`` (mp_id, formula or formula-spacegroup like BN-186)."""
    from latdyn.benchmark.reference import load_reference, select_compounds

    (compound,) = select_compounds(load_reference(data_dir), [name])
    return compound.atoms


def _peak_memory_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run_reference(atoms, model_name: str, holdout: int) -> dict:
    """The protocol the plain way (one supercell at a time, phono3py's own fits)."""
    import numpy as np
    from ase import Atoms
    from phono3py import Phono3py

    from latdyn.models import load_model
    from latdyn.protocols.ksrme import ksrme_settings
    from latdyn.structure.convert import to_phonopy_atoms
    from latdyn.workflows.kappa_protocol import two_stage_relax

    settings = ksrme_settings(atoms, model_name)
    timings = {}
    start = time.perf_counter()
    calc = load_model(model_name).calculator
    timings["load_model"] = time.perf_counter() - start

    start = time.perf_counter()
    relaxed = two_stage_relax(atoms, calc, settings.relax_settings).final.atoms
    timings["relax"] = time.perf_counter() - start

    start = time.perf_counter()
    ph3 = Phono3py(to_phonopy_atoms(relaxed), supercell_matrix=settings.fc3.supercell.matrix,
                   primitive_matrix=settings.primitive_matrix,
                   phonon_supercell_matrix=settings.fc2.supercell.matrix, symprec=1e-5)
    ph3.generate_displacements(distance=0.03)
    ph3.generate_fc2_displacements(distance=0.03, is_plusminus="auto", is_diagonal=False)
    setup = time.perf_counter() - start

    def forces_of(cells):
        out = []
        for cell in cells:
            supercell = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions,
                              pbc=True)
            supercell.calc = calc
            out.append(supercell.get_forces())
        return np.array(out)

    start = time.perf_counter()
    fc2_cells = ph3.phonon_supercells_with_displacements
    ph3.phonon_forces = forces_of(fc2_cells)
    ph3.produce_fc2()
    ph3.symmetrize_fc2()
    timings["fc2"] = time.perf_counter() - start + setup  # displacements are FC2-stage work

    start = time.perf_counter()
    fc3_cells = ph3.supercells_with_displacements
    ph3.forces = forces_of(fc3_cells)
    ph3.produce_fc3()
    ph3.symmetrize_fc3()
    timings["fc3"] = time.perf_counter() - start
    check = _reference_holdout(ph3, forces_of, holdout) if holdout else None

    start = time.perf_counter()
    ph3.mesh_numbers = settings.kappa.mesh
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=[300.0], is_isotope=True, boundary_mfp=1e6,
                                 transport_type="smm19")
    conductivity = ph3.thermal_conductivity
    # phono3py >= 4: particle (intra-band) and coherence (inter-band) parts, (n_sigma, nT, 6)
    kappa = np.array(conductivity.kappa_intra)[0, 0] + np.array(conductivity.kappa_inter)[0, 0]
    timings["kappa"] = time.perf_counter() - start
    return {
        "timings": timings,
        "kappa_trace_average": float(np.mean(kappa[:3])),
        "n_evaluations": len(fc2_cells) + len(fc3_cells),
        "n_atoms_evaluated": len(fc2_cells) * len(fc2_cells[0]) + len(fc3_cells) * len(fc3_cells[0]),
        "n_fc2": len(fc2_cells),
        "n_fc3": len(fc3_cells),
        **_holdout_record(check),
    }


def _reference_holdout(ph3, forces_of, n_pairs: int):
    """latdyn's held-out check of the reference FC3, with the reference's calculator."""
    from latdyn.anharmonic.holdout import HOLDOUT_SEED_OFFSET, FC3HoldoutSettings, run_fc3_holdout
    from latdyn.structure.convert import to_phonopy_atoms

    residual = forces_of([ph3.supercell])[0]

    def evaluate(cells):  # ASE supercells, through the same one-at-a-time path
        return forces_of([to_phonopy_atoms(c) for c in cells]) - residual[None], len(cells)

    settings = FC3HoldoutSettings(n_pairs=n_pairs, distance=0.03, random_seed=HOLDOUT_SEED_OFFSET)
    return run_fc3_holdout(ph3, ph3.fc3, evaluate, settings)


def _holdout_record(check) -> dict:
    if check is None:
        return {"fc3_holdout_residual": None, "fc3_holdout_s": 0.0}
    return {"fc3_holdout_residual": check.residual, "fc3_holdout_s": check.seconds}


def run_latdyn(atoms, model_name: str, variant: str, holdout: int) -> dict:
    """latdyn's pipeline with the variant's settings and an empty cache."""
    from latdyn.protocols.ksrme import ksrme_settings
    from latdyn.settings import ExecutionSettings
    from latdyn.workflows.kappa import run_kappa_workflow

    fc2, fc3, changes = {}, {"holdout": holdout}, {}
    base, *modifiers = variant.split("+")
    if base.startswith("latdyn-random:"):
        count = base.split(":")[1]
        fc3.update(method="random", n_random=None if count == "auto" else int(count))
    elif base != "latdyn-fd":
        raise SystemExit(f"unknown variant {variant}")
    for modifier in modifiers:
        name, _, value = modifier.partition(":")
        if name == "fc2random":
            fc2.update(method="random", n_random=int(value))
        elif name == "kworkers":
            changes["parallel"] = {"workers": int(value)}
        elif name == "symfc":
            changes["fc_solver"] = "symfc"
        elif name == "pm":
            fc3.update(plus_minus=True)
        elif name == "fc2pm":
            fc2.update(plus_minus=True)
        elif name == "conv":
            fc3.update(convergence=float(value))
        else:
            raise SystemExit(f"unknown modifier {modifier} in {variant}")
    execution = ExecutionSettings(use_cache=False, progress=False)
    settings = ksrme_settings(atoms, model_name, execution, {**changes, "fc2": fc2, "fc3": fc3})
    result = run_kappa_workflow(atoms, settings)
    if result.kappa is None:
        raise SystemExit(f"gate stopped the run: {result.gate.reasons}")
    t = result.timings
    n_fc2, n_fc3 = result.n_fc2_supercells, result.n_fc3_supercells
    fc2_atoms = len(result.displacements.fc2_supercell)
    fc3_atoms = len(result.displacements.fc3_supercell)
    return {
        "timings": {
            "load_model": t.get("load_model", 0.0),
            "relax": t.get("relax", 0.0),
            "fc2": t.get("displacements", 0.0) + t.get("fc2_forces", 0.0) + t.get("fc2", 0.0),
            "fc3": t.get("fc3_forces", 0.0) + t.get("fc3", 0.0),
            "kappa": t.get("harmonic_check", 0.0) + t.get("kappa", 0.0),
        },
        "kappa_trace_average": float(result.kappa.kappa_trace_average[0]),
        # +2: the unit cell for the residual forces of both supercells
        "n_evaluations": n_fc2 + n_fc3 + 2,
        "n_atoms_evaluated": n_fc2 * fc2_atoms + n_fc3 * fc3_atoms
        + 2 * len(result.structure.atoms),
        "stage_seconds": dict(t),
        "n_fc2": n_fc2,
        "n_fc3": n_fc3,
        "fc3_convergence": None if result.fc3_convergence is None else [
            (level.n_supercells, level.kappa[0], level.relative_change, level.holdout_residual)
            for level in result.fc3_convergence.levels],
        **_holdout_record(result.fc3_holdout),
    }


def _child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    atoms = _ksrme_atoms(args.material, args.data_dir)
    if args.run == "reference":
        record = run_reference(atoms, args.model, args.holdout)
    else:
        record = run_latdyn(atoms, args.model, args.run, args.holdout)
    record["peak_memory_gb"] = _peak_memory_gb()
    Path(args.json).write_text(json.dumps(record))


def _run_child(material: str, run: str, model: str, threads: int, data_dir: str | None,
               holdout: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "record.json"
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        command = [sys.executable, __file__, "--child", "--material", material, "--run", run,
                   "--model", model, "--threads", str(threads), "--json", str(out),
                   "--holdout", str(holdout)]
        if data_dir:
            command += ["--data-dir", data_dir]
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env)
        record = json.loads(out.read_text())
        record["wall"] = time.perf_counter() - start
        return record


def _force_stage(record: dict) -> float:
    return sum(record["timings"][k] for k in ("relax", "fc2", "fc3"))


def _end_to_end(record: dict) -> float:
    return _force_stage(record) + record["timings"]["kappa"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--materials", nargs="+", default=["MgO"])
    parser.add_argument("--variants", nargs="+", default=["latdyn-fd"])
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--data-dir", help="reference data folder (default: $LATDYN_DATA_DIR)")
    parser.add_argument("--holdout", type=int, default=0, metavar="N",
                        help="FC3 held-out check on N ± pairs for every run (default: none)")
    parser.add_argument("--save", type=Path, help="write all records to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--material", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    records = {}
    for material in args.materials:
        records[material] = {}
        for run in ["reference", *args.variants]:
            records[material][run] = _run_child(material, run, args.model, args.threads,
                                                args.data_dir, args.holdout)
            if args.save:  # after every run: a long invocation keeps what it measured
                args.save.write_text(json.dumps(records, indent=2))
        _print_table(material, records[material])


def _print_table(material: str, runs: dict) -> None:
    reference = runs["reference"]
    stages = ["relax", "fc2", "fc3", "kappa"]
    print(f"\n== {material} ==")
    header = (f"{'run':20s}" + "".join(f"{s:>9s}" for s in stages)
              + f"{'force':>9s}{'x':>6s}{'total':>9s}{'x':>6s}{'evals':>7s}{'atoms':>8s}"
              + f"{'kappa':>9s}{'dk %':>7s}{'mem GB':>8s}")
    print(header)
    for name, record in runs.items():
        t = record["timings"]
        dk = 100 * (record["kappa_trace_average"] / reference["kappa_trace_average"] - 1)
        print(f"{name:20s}" + "".join(f"{t[s]:9.1f}" for s in stages)
              + f"{_force_stage(record):9.1f}{_force_stage(reference) / _force_stage(record):6.2f}"
              + f"{_end_to_end(record):9.1f}{_end_to_end(reference) / _end_to_end(record):6.2f}"
              + f"{record['n_evaluations']:7d}{record['n_atoms_evaluated']:8d}"
              + f"{record['kappa_trace_average']:9.2f}{dk:7.2f}{record['peak_memory_gb']:8.2f}")
        if record.get("fc3_convergence"):
            levels = ", ".join(
                f"{n} -> {k:.2f}" + ("" if c is None else f" ({100 * c:.2f}%)")
                + ("" if r is None else f" [previous fit on the new ones: {100 * r:.2f}%]")
                for n, k, c, r in record["fc3_convergence"])
            print(f"{'':20s}FC3 convergence (supercells -> half-mesh κ): {levels}")
        if record.get("fc3_holdout_residual") is not None:
            print(f"{'':20s}FC3 held-out residual {100 * record['fc3_holdout_residual']:.2f}% "
                  f"({record['fc3_holdout_s']:.1f} s, apart from the stages)")


if __name__ == "__main__":
    main()
