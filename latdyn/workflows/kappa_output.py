"""Write a κ run's results into an output folder (each file atomically, summary last)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from latdyn.files import staged_output, write_json
from latdyn.kappa.output import write_kappa_hdf5, write_phono3py_params
from latdyn.kappa.plot import plot_cumulative_kappa, plot_kappa_temperature, plot_linewidths
from latdyn.provenance import run_record
from latdyn.workflows.kappa import KappaWorkflowResult
from latdyn.workflows.kappa_summary import kappa_summary


def write_kappa_run(result: KappaWorkflowResult, out_dir: str | Path, inputs: dict,
                    extra: dict | None = None,
                    extra_writer: Callable[[Path], list[Path]] | None = None) -> dict:
    """Write ``phono3py_params.yaml``, ``kappa.h5``, the figures and ``summary.json``.

    A gated run (no κ) writes ``phono3py_params.yaml`` (FC2 forces) and ``summary.json`` saying
    why. ``extra`` entries join the summary; ``extra_writer(folder)`` writes more files into
    the run's staging folder and returns their paths (listed among the outputs). Returns the summary; ``summary.json`` is written last, marking a complete run.
    """
    with staged_output(out_dir) as out:
        outputs = [write_phono3py_params(result.displacements.phono3py, out / "phono3py_params.yaml")]
        kappa = result.kappa
        if kappa is not None:
            atoms = result.structure.atoms
            title = (f"{atoms.get_chemical_formula(empirical=True)} {result.structure.symmetry} — "
                     f"{result.model['name']}, {kappa.method}")
            outputs.append(write_kappa_hdf5(kappa, out / "kappa.h5"))
            outputs += plot_kappa_temperature(kappa, [out / "kappa_temperature.png"], title)
            outputs += plot_cumulative_kappa(kappa, [out / "kappa_cumulative.png"], title)
            outputs += plot_linewidths(kappa, [out / "linewidths.png"], title)
        if extra_writer is not None:
            outputs += extra_writer(out)
        summary = {**kappa_summary(result, inputs), **(extra or {})}
        summary["outputs"] = [path.name for path in outputs] + ["summary.json"]
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
