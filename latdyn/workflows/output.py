"""Write a phonon run's results into an output folder (each file atomically, summary last)."""

from __future__ import annotations

from pathlib import Path

from latdyn.files import staged_output, write_json
from latdyn.phonon.output import write_phonons_hdf5, write_phonopy_params
from latdyn.phonon.plot import plot_band_dos
from latdyn.provenance import run_record
from latdyn.workflows.phonons import PhononWorkflowResult, phonon_summary


def write_phonon_run(result: PhononWorkflowResult, out_dir: str | Path, inputs: dict) -> dict:
    """Write ``phonopy_params.yaml``, ``phonons.h5``, ``band_dos.png/pdf`` and ``summary.json``.

    Returns the summary. ``summary.json`` is written last: its presence marks a complete run.
    """
    with staged_output(out_dir) as out:
        write_phonopy_params(result.displacements.phonopy, out / "phonopy_params.yaml")
        write_phonons_hdf5(result.phonons, out / "phonons.h5")
        atoms = result.structure.atoms
        title = (f"{atoms.get_chemical_formula(empirical=True)} {result.structure.symmetry} — "
                 f"{result.model['name']}")
        plot_band_dos(result.phonons, [out / "band_dos.png", out / "band_dos.pdf"], title=title,
                      element_labels=atoms.get_chemical_symbols())
        summary = phonon_summary(result, inputs)
        summary["outputs"] = ["phonopy_params.yaml", "phonons.h5", "band_dos.png", "band_dos.pdf",
                              "summary.json"]
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
