"""κ step speed: latdyn's collision kernel against phono3py's own, same FC3, one invocation.

For each κSRME compound (by name, e.g. ``MgO``, ``AlN-186``) this runs the κ step of the κSRME
protocol (the compound's q-mesh, Wigner RTA at 300 K, isotopes, 1e6 µm boundary) once per
kernel, each in its own process with the same thread count (torch and phono3py's Rust pool),
on the same FC2/FC3, and prints the κ step's wall and process CPU seconds (the machine may be
shared: CPU time is the steadier number), where the time went, κ, the relative difference
and peak memory; ``--profile`` adds the functions where each run spent its time.

The force constants come from latdyn's fast settings (random ± FC3, ``fc_solver="auto"``)
with the model given, fitted once and kept in ``--fc-dir`` (forces go through latdyn's cache).

    python benchmarks/kappa_kernel.py --materials MgO AlN-186 --profile \
        --csv reference_data/kappa_kernel_7net-0.csv --label B

``--csv`` appends one row per material and kernel (invocation label, threads, load average);
``--from-json`` prints (and writes) a run saved with ``--save`` instead of running.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KERNELS = ("phono3py", "latdyn")


def _ksrme_atoms(name: str, data_dir: str | None):
    from latdyn.benchmark.reference import load_reference, select_compounds

    (compound,) = select_compounds(load_reference(data_dir), [name])
    return compound.atoms


def _fc_file(fc_dir: Path, material: str, model: str) -> Path:
    return fc_dir / f"{material}-{model}.hdf5"


def prepare(material: str, model: str, fc_dir: Path, data_dir: str | None) -> Path:
    """FC2 and FC3 of ``material`` from latdyn's fast settings, saved once (HDF5)."""
    import h5py
    import numpy as np

    from latdyn.protocols.ksrme import ksrme_settings
    from latdyn.settings import ExecutionSettings, ModelSettings
    from latdyn.workflows.kappa import run_kappa_workflow

    path = _fc_file(fc_dir, material, model)
    if path.exists():
        return path
    atoms = _ksrme_atoms(material, data_dir)
    # the κ of this run is not used: a 1x1x1 mesh keeps it short
    settings = ksrme_settings(atoms, ModelSettings(model), ExecutionSettings(progress=False),
                              {"fc3": {"method": "random", "n_random": None, "plus_minus": True},
                               "kappa": {"mesh": (1, 1, 1)}})
    result = run_kappa_workflow(atoms, settings)
    ph3 = result.displacements.phono3py
    fc_dir.mkdir(parents=True, exist_ok=True)
    with h5py.File(path.with_suffix(".tmp"), "w") as out:
        cell = ph3.unitcell
        out["lattice"] = cell.cell
        out["scaled_positions"] = cell.scaled_positions
        out["numbers"] = cell.numbers
        out["masses"] = cell.masses
        out["supercell_matrix"] = ph3.supercell_matrix
        out["phonon_supercell_matrix"] = ph3.phonon_supercell_matrix
        out["primitive_matrix"] = np.array(ph3.primitive_matrix, dtype=float)
        out["fc2"] = ph3.fc2
        out["fc3"] = ph3.fc3
        out["q_mesh"] = np.asarray(atoms.info["q_mesh"]).ravel()
    path.with_suffix(".tmp").rename(path)
    return path


def load_phono3py(path: Path):
    """The Phono3py object with the saved FC2 and FC3, and the compound's q-mesh."""
    import h5py
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    with h5py.File(path) as data:
        cell = PhonopyAtoms(cell=data["lattice"][()], scaled_positions=data["scaled_positions"][()],
                            numbers=data["numbers"][()], masses=data["masses"][()])
        ph3 = Phono3py(cell, supercell_matrix=data["supercell_matrix"][()],
                       phonon_supercell_matrix=data["phonon_supercell_matrix"][()],
                       primitive_matrix=data["primitive_matrix"][()], symprec=1e-5)
        ph3.fc2 = data["fc2"][()]
        ph3.fc3 = data["fc3"][()]
        mesh = tuple(int(n) for n in data["q_mesh"][()])
    return ph3, mesh


def run_kernel(path: Path, kernel: str, device: str, profile: bool,
               n_grid_points: int | None = None) -> dict:
    """The κ step with ``kernel``; wall, CPU seconds, time split, κ, (profile).

    ``n_grid_points``: only that many irreducible q-points (evenly spread), to compare the
    kernels' cost per q-point where a whole κ step takes too long; their linewidths are
    recorded instead of κ.
    """
    import numpy as np

    from latdyn.kappa import KappaSettings, run_kappa
    from latdyn.kappa.conductivity import prepare_interaction, run_conductivity
    from latdyn.kappa.distributed import irreducible_grid_points

    ph3, mesh = load_phono3py(path)
    settings = KappaSettings(mesh=mesh, temperatures=(300.0,), method="wigner", isotope=True,
                             boundary_mfp=1e6, kernel=kernel, device=device)
    profiler = cProfile.Profile() if profile else None
    load_start = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    if n_grid_points:
        prepare_interaction(ph3, settings)
        points = irreducible_grid_points(ph3)
        points = points[np.linspace(0, len(points) - 1, n_grid_points).astype(int)]
        conductivity, timings = run_conductivity(ph3, settings, grid_points=points)
        result = {"gamma": np.asarray(conductivity.gamma[0, 0]).tolist(),
                  "n_grid_points": n_grid_points, "timings": timings,
                  "n_irreducible_qpoints": len(irreducible_grid_points(ph3))}
    else:
        kappa = run_kappa(ph3, settings)
        result = {"kappa": kappa.kappa[0].tolist(), "timings": kappa.timings,
                  "kappa_trace_average": float(kappa.kappa_trace_average[0]),
                  "n_irreducible_qpoints": len(kappa.qpoints)}
    if profiler:
        profiler.disable()
    record = {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        **result,
        "peak_memory_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "load_average": [load_start, os.getloadavg()[0]],
    }
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(12)
        record["profile"] = stream.getvalue()
    return record


def _run_child(path: Path, kernel: str, threads: int, device: str, profile: bool,
               n_grid_points: int | None) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "record.json"
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), RAYON_NUM_THREADS=str(threads))
        command = [sys.executable, __file__, "--child", "--fc-file", str(path), "--kernel",
                   kernel, "--threads", str(threads), "--device", device, "--json", str(out)]
        if profile:
            command.append("--profile")
        if n_grid_points:
            command += ["--grid-points", str(n_grid_points)]
        subprocess.run(command, check=True, env=env)
        return json.loads(out.read_text())


def _relative_difference(record: dict, reference: dict) -> float:
    """κ (or, for some q-points, the largest linewidth) relative difference to ``reference``."""
    import numpy as np

    if "gamma" in record:
        gamma, expected = (np.array(r["gamma"]) for r in (record, reference))
        large = expected > 1e-6 * expected.max()
        return float(np.max(np.abs(gamma - expected)[large] / expected[large]))
    return abs(record["kappa_trace_average"] / reference["kappa_trace_average"] - 1)


def _print_table(material: str, runs: dict) -> None:
    """One row per kernel; speed-ups and differences against phono3py's when it ran."""
    reference = runs.get("phono3py")
    first = next(iter(runs.values()))
    part = (f"{first['n_grid_points']} of " if "n_grid_points" in first else "")
    print(f"\n== {material} (κ step: Wigner RTA, isotopes, boundary; "
          f"{part}{first['n_irreducible_qpoints']} irreducible q-points; rel diff: "
          f"{'largest of the linewidths' if part else 'κ'}) ==")
    print(f"{'kernel':10s}{'wall s':>9s}{'x':>7s}{'CPU s':>9s}{'x':>7s}{'kappa':>11s}"
          f"{'rel diff':>10s}{'mem GB':>8s}  time split (s)")
    nan = float("nan")
    for name, record in runs.items():
        split = ", ".join(f"{k} {v:.1f}" for k, v in record["timings"].items())
        wall_x = reference["wall_s"] / record["wall_s"] if reference else nan
        cpu_x = reference["cpu_s"] / record["cpu_s"] if reference else nan
        difference = _relative_difference(record, reference) if reference else nan
        print(f"{name:10s}{record['wall_s']:9.1f}{wall_x:7.2f}"
              f"{record['cpu_s']:9.1f}{cpu_x:7.2f}"
              f"{record.get('kappa_trace_average', nan):11.5f}"
              f"{difference:10.1e}"
              f"{record['peak_memory_gb']:8.2f}  {split}")
    for name, record in runs.items():
        if "profile" in record:
            print(f"\n-- profile, {name} kernel --")
            lines = record["profile"].splitlines()
            start = next(i for i, line in enumerate(lines) if "ncalls" in line)
            print("\n".join(lines[start:start + 13]))


CSV_FIELDS = ["invocation", "material", "kernel", "threads", "n_irreducible_qpoints", "wall_s",
              "wall_speedup", "cpu_s", "cpu_speedup", "kappa_W_mK", "kappa_rel_diff",
              "peak_memory_GB", "load_average_start", "load_average_end", "time_split_s",
              "note"]


def write_csv(path: Path, records: dict, label: str, threads: int, note: str) -> None:
    """Append one row per material and kernel of ``records`` (``--save``'s layout) to ``path``;
    speed-ups and relative differences against the phono3py kernel of the same material."""
    new = not path.exists()
    with path.open("a", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        if new:
            writer.writeheader()
        for material, runs in records.items():
            reference = runs.get("phono3py")
            for kernel, record in runs.items():
                load = record.get("load_average", ["", ""])
                writer.writerow({
                    "invocation": label, "material": material, "kernel": kernel,
                    "threads": threads, "n_irreducible_qpoints": record["n_irreducible_qpoints"],
                    "wall_s": round(record["wall_s"], 1), "cpu_s": round(record["cpu_s"], 1),
                    "wall_speedup": round(reference["wall_s"] / record["wall_s"], 2)
                    if reference else "",
                    "cpu_speedup": round(reference["cpu_s"] / record["cpu_s"], 2)
                    if reference else "",
                    "kappa_W_mK": round(record["kappa_trace_average"], 6)
                    if "kappa_trace_average" in record else "",
                    "kappa_rel_diff": f"{_relative_difference(record, reference):.1e}"
                    if reference else "",
                    "peak_memory_GB": round(record["peak_memory_gb"], 2),
                    "load_average_start": load[0] if load[0] == "" else round(load[0], 2),
                    "load_average_end": load[1] if load[1] == "" else round(load[1], 2),
                    "time_split_s": "; ".join(f"{k} {v:.1f}"
                                              for k, v in record["timings"].items()),
                    "note": note,
                })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--materials", nargs="+", default=["MgO", "AlN-186"])
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=KERNELS)
    parser.add_argument("--fc-dir", type=Path, default=Path.home() / ".cache/latdyn/kappa_kernel",
                        help="where the fitted FC2/FC3 are kept (default: %(default)s)")
    parser.add_argument("--data-dir", help="reference data folder (default: $LATDYN_DATA_DIR)")
    parser.add_argument("--profile", action="store_true", help="print where each run spent "
                        "its time")
    parser.add_argument("--grid-points", type=int, metavar="N",
                        help="only N irreducible q-points (evenly spread): cost per q-point "
                        "and linewidths, no κ")
    parser.add_argument("--save", type=Path, help="write all records to this JSON file")
    parser.add_argument("--from-json", type=Path, help="print (and with --csv write) the "
                        "records of a run saved with --save instead of running")
    parser.add_argument("--csv", type=Path, help="append the table to this CSV file")
    parser.add_argument("--label", default="", help="invocation label of the CSV rows")
    parser.add_argument("--note", default="", help="note of the CSV rows (e.g. machine load)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fc-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--kernel", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        record = run_kernel(args.fc_file, args.kernel, args.device, args.profile,
                            args.grid_points)
        Path(args.json).write_text(json.dumps(record))
        return

    if args.from_json:
        records = json.loads(args.from_json.read_text())
        for material, runs in records.items():
            _print_table(material, runs)
        if args.csv:
            write_csv(args.csv, records, args.label, args.threads, args.note)
        return
    records = {}
    for material in args.materials:
        path = prepare(material, args.model, args.fc_dir, args.data_dir)
        records[material] = {kernel: _run_child(path, kernel, args.threads, args.device,
                                                args.profile, args.grid_points)
                             for kernel in args.kernels}
        if args.save:
            args.save.write_text(json.dumps(records, indent=2))
        _print_table(material, records[material])
    if args.csv:
        write_csv(args.csv, records, args.label, args.threads, args.note)


if __name__ == "__main__":
    main()
