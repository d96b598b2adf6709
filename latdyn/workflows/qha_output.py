"""Write a QHA run's results into an output folder (each file atomically, summary last)."""

from __future__ import annotations

from pathlib import Path

from latdyn.files import staged_output, write_json
from latdyn.phonon.output import write_phonopy_params
from latdyn.provenance import run_record
from latdyn.qha.output import write_phonopy_files, write_qha_hdf5
from latdyn.qha.plot import plot_energy_volume, plot_gruneisen, plot_thermodynamics
from latdyn.workflows.qha import QHAWorkflowResult, qha_summary


def write_qha_run(result: QHAWorkflowResult, out_dir: str | Path, inputs: dict) -> dict:
    """Write ``qha.h5``, phonopy's QHA files, ``phonopy_params-NN.yaml`` per volume, the figures
    and ``summary.json`` (last: its presence marks a complete run), all through a staging folder
    (nothing in ``out_dir`` changes if writing fails). Returns the summary."""
    with staged_output(out_dir) as out:
        outputs = [write_qha_hdf5(result.qha, result.gruneisen, out / "qha.h5")]
        outputs += write_phonopy_files(result.qha, out)
        for k, d in enumerate(result.displacements):
            outputs.append(write_phonopy_params(d.phonopy, out / f"phonopy_params-{k:02d}.yaml"))
        atoms = result.structure.atoms
        title = (f"{atoms.get_chemical_formula(empirical=True)} {result.structure.symmetry} — "
                 f"{result.model['name']}, {result.qha.eos}")
        outputs += plot_energy_volume(result.qha, [out / "qha_energy_volume.png"], title)
        outputs += plot_thermodynamics(result.qha, [out / "qha_thermodynamics.png"], title,
                                       result.gruneisen)
        labels = result.phonons[result.grid.reference_index].band_labels
        outputs += plot_gruneisen(result.gruneisen, [out / "gruneisen.png"], title, labels)
        summary = qha_summary(result, inputs)
        summary["outputs"] = [path.name for path in outputs] + ["summary.json"]
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
