"""Rebuild the excerpts in tests/data/ from the full reference data (see README.md).

    python tests/data/make_excerpts.py /path/to/reference_data
"""

from __future__ import annotations

import io
import lzma
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: κSRME compounds kept: two of each structure type at least, the ones the tests name.
KSRME_IDS = ("mp-2472", "mp-1265", "mp-1541", "mp-1639", "mp-2542", "mp-661", "mp-2653")
#: Si-PBE FC3 pairs farther apart than this (Å) are left out of the phono3py excerpt.
PAIR_CUTOFF = 2.5


def ksrme(source: Path, target: Path) -> None:
    import pandas as pd
    from ase.io import read

    target.mkdir(parents=True, exist_ok=True)
    lines = (source / "phononDB-PBE-structures.extxyz").read_text().splitlines(keepends=True)
    kept, start = [], 0
    for atoms in read(source / "phononDB-PBE-structures.extxyz", index=":"):
        block = lines[start:start + len(atoms) + 2]
        start += len(atoms) + 2
        if atoms.info["mp_id"] in KSRME_IDS:
            kept.append("".join(block))
    (target / "phononDB-PBE-structures.extxyz").write_text("".join(kept))
    frame = pd.read_json(source / "kappas_phononDB_PBE_noNAC.json.gz")
    frame = frame[frame["mp_id"].isin(KSRME_IDS)].reset_index(drop=True)
    frame.to_json(target / "kappas_phononDB_PBE_noNAC.json.gz", orient="columns",
                  double_precision=15)


def phonopy_si(source: Path, target: Path) -> None:
    import phonopy
    from ase.io import read, write

    target.mkdir(parents=True, exist_ok=True)
    unitcell = read(source / "POSCAR-unitcell", format="vasp")
    phonon = phonopy.load(unitcell_filename=str(source / "POSCAR-unitcell"),
                          supercell_matrix=[2, 2, 2], primitive_matrix="auto",
                          force_sets_filename=str(source / "FORCE_SETS"), produce_fc=False,
                          log_level=0)
    write(target / "POSCAR-unitcell", unitcell, format="vasp", direct=True)
    phonon.save(target / "phonopy_params.yaml", settings={"force_constants": False})


def phono3py_si(source: Path, target: Path) -> None:
    import phono3py
    from phono3py.file_IO import write_FORCES_FC3

    target.mkdir(parents=True, exist_ok=True)
    ph3 = phono3py.load(source / "phono3py_disp.yaml", forces_fc3_filename=source / "FORCES_FC3",
                        produce_fc=False, log_level=0)
    dataset = ph3.dataset
    supercell = ph3.supercell
    for first in dataset["first_atoms"]:
        for second in first["second_atoms"]:
            d = supercell.positions[second["number"]] - supercell.positions[first["number"]]
            fractional = np.linalg.solve(supercell.cell.T, d)
            d = (fractional - np.rint(fractional)) @ supercell.cell
            if np.linalg.norm(d) > PAIR_CUTOFF:
                second["included"] = False
                second.pop("forces")
            else:
                second["included"] = True
        first.pop("pair_distance", None)
    dataset["cutoff_distance"] = PAIR_CUTOFF
    ph3.dataset = dataset
    # phono3py's own layout for a pair cutoff: ``included`` flags in the displacement file,
    # zero forces for the pairs left out in FORCES_FC3
    ph3.save(str(target / "phono3py_disp.yaml"), settings={"force_sets": False})
    buffer = io.StringIO()
    write_FORCES_FC3(dataset, fp=buffer)
    with lzma.open(target / "FORCES_FC3.xz", "wt") as packed:
        packed.write(buffer.getvalue())


def main() -> None:
    data = Path(sys.argv[1])
    ksrme(data / "ksrme", HERE / "ksrme")
    phonopy_si(data / "dft" / "phonopy" / "Si", HERE / "dft" / "phonopy" / "Si")
    phono3py_si(data / "dft" / "phono3py" / "Si-PBE", HERE / "dft" / "phono3py" / "Si-PBE")


if __name__ == "__main__":
    main()
