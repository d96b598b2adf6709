"""Relaxation and force-evaluation speed of a SevenNet model under TorchScript's executors.

Each variant runs in its own process (the executor setting is process-wide):

``profiling``
    torch's defaults, latdyn before: TorchScript's profiling executor, which re-optimizes
    SevenNet's scripted activation whenever the shapes change (the number of neighbour pairs
    changes at almost every relaxation step), and torch's intra-op threads in the relaxation;
``executor``
    the profiling executor off (what :func:`latdyn.models.load_model` sets up), torch's threads;
``latdyn``
    the profiling executor off and a small cell relaxed single-threaded (one torch and one
    BLAS thread, :data:`latdyn.relax.SMALL_CELL_ATOMS`).

For each it times the model load, the relaxation of wurtzite GaN (4 atoms) and rocksalt MgO
(2 atoms) with latdyn's default settings (per-evaluation times, steps, the relaxed cell), and
batched forces on displaced 64- and 512-atom Si supercells, and prints the ratios against
``profiling``.

    python benchmarks/relax_speed.py [--model 7net-0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

VARIANTS = ("profiling", "executor", "latdyn")


def _structures():
    from ase.build import bulk

    return {"GaN-186": bulk("GaN", "wurtzite", a=3.19, c=5.19),
            "MgO-225": bulk("MgO", "rocksalt", a=4.21)}


def _timed_calculator(calc, times: list):
    original = calc.calculate

    def calculate(*args, **kwargs):
        start = time.perf_counter()
        original(*args, **kwargs)
        times.append(time.perf_counter() - start)

    calc.calculate = calculate


def run_variant(variant: str, model_name: str, repeats: int, forces: bool = True) -> dict:
    """One variant in this process: load, relax both cells, batched supercell forces."""
    start = time.perf_counter()
    from latdyn.models import load_model

    model = load_model(model_name)
    load_seconds = time.perf_counter() - start
    import latdyn.relax
    from latdyn.relax import RelaxSettings, run_relax

    if variant == "profiling":
        import torch

        torch._C._jit_set_profiling_executor(True)
        torch._C._jit_set_profiling_mode(True)
    if variant != "latdyn":
        latdyn.relax.SMALL_CELL_ATOMS = 0
    from latdyn.structure.symmetry import standardize_primitive

    out = {"variant": variant, "load_s": load_seconds, "relax": {}, "forces": {}}
    for name, atoms in _structures().items():
        times: list[float] = []
        _timed_calculator(model.calculator, times)
        result = run_relax(standardize_primitive(atoms, 1e-5), model.calculator, RelaxSettings())
        del model.calculator.calculate  # back to the class method
        out["relax"][name] = {
            "seconds": result.seconds, "steps": result.n_steps, "converged": result.converged,
            "max_force": result.max_force, "evaluations": len(times),
            "call_s": [round(t, 3) for t in times],
            "cell": np.asarray(result.atoms.cell).tolist(),
            "positions": result.atoms.get_scaled_positions().tolist(),
        }
    if not forces:
        return out
    from ase.build import bulk

    from latdyn.forces.sevenn import SevenNetBatchBackend

    backend = SevenNetBatchBackend(model.calculator, model.identity, batch_size=4)
    rng = np.random.default_rng(0)
    for repeat in (2, 4):
        supercell = bulk("Si", "diamond", a=5.43, cubic=True).repeat(repeat)
        cells = []
        for _ in range(4):
            cell = supercell.copy()
            cell.positions += rng.normal(scale=0.01, size=cell.positions.shape)
            cells.append(cell)
        calls = []
        for _ in range(repeats):
            begin = time.perf_counter()
            backend.forces(cells)
            calls.append(time.perf_counter() - begin)
        out["forces"][f"{len(supercell)} atoms x4"] = [round(t, 2) for t in calls]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="the first is the reference of the ratios")
    parser.add_argument("--no-forces", action="store_true",
                        help="relaxations only (no 64-/512-atom force timings)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.model, args.repeats,
                                     forces=not args.no_forces)))
        return
    results = {}
    for variant in args.variants:
        begin = time.perf_counter()
        extra = ["--no-forces"] if args.no_forces else []
        proc = subprocess.run([sys.executable, __file__, "--variant", variant, "--model",
                               args.model, "--repeats", str(args.repeats), *extra],
                              capture_output=True, text=True, check=True)
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
        results[variant]["process_s"] = time.perf_counter() - begin
    reference = results[args.variants[0]]
    for variant, result in results.items():
        print(f"== {variant}: model load {result['load_s']:.1f} s, process {result['process_s']:.0f} s")
        for name, relax in result["relax"].items():
            ratio = reference["relax"][name]["seconds"] / relax["seconds"]
            calls = relax["call_s"]
            print(f"  relax {name}: {relax['seconds']:.1f} s ({ratio:.1f}x faster than {args.variants[0]}), "
                  f"{relax['steps']} steps, {relax['evaluations']} evaluations, converged "
                  f"{relax['converged']}, max force {relax['max_force']:.1e} eV/Å; "
                  f"evaluation s: median {np.median(calls):.3f}, max {max(calls):.2f}, "
                  f"sum {sum(calls):.1f}, first 8 {calls[:8]}")
            cell_diff = np.abs(np.array(relax["cell"]) - reference["relax"][name]["cell"]).max()
            pos_diff = np.abs(np.array(relax["positions"])
                              - reference["relax"][name]["positions"]).max()
            print(f"    relaxed cell vs {args.variants[0]}: max |Δ| {cell_diff:.1e} Å, "
                  f"fractional positions {pos_diff:.1e}")
        for name, calls in result["forces"].items():
            print(f"  forces {name} per call (s): {calls}; best/{args.variants[0]} best "
                  f"{min(calls) / min(reference['forces'][name]):.2f}")


if __name__ == "__main__":
    main()
