"""The κSRME protocol (Póta et al., arXiv 2408.00755; Matbench Discovery) as κ settings."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from latdyn.anharmonic.specs import FC2Spec, FC3Spec
from latdyn.errors import InputError
from latdyn.kappa import KappaSettings
from latdyn.kappa.gate import GateSettings
from latdyn.relax import RelaxSettings
from latdyn.settings import ExecutionSettings, ModelSettings
from latdyn.structure.supercell import SupercellSpec
from latdyn.workflows.kappa_settings import KappaWorkflowSettings, with_changes

#: ``atoms.info`` keys the κSRME protocol reads.
KSRME_INFO_KEYS = ("fc2_supercell", "fc3_supercell", "q_mesh")


def ksrme_settings(atoms: Atoms, model: ModelSettings | str | None = None,
                   execution: ExecutionSettings | None = None,
                   changes: dict | None = None) -> KappaWorkflowSettings:
    """Settings of the κSRME protocol for ``atoms``.

    Two-stage FIRE relaxation (cell angles fixed, ``FixSymmetry`` in stage 1 only, fmax 1e-4
    eV/Å, 300 steps per stage, symprec 1e-5); the structure used as given, with the FC2/FC3
    supercells, q-mesh and primitive matrix of ``atoms.info`` (``"auto"`` when it has none);
    0.03 Å displacements, phono3py's finite differences and symmetrization (``fc_solver="auto"``:
    the same for finite displacements, symfc for a random-displacement override); Wigner RTA at
    300 K with isotopes and a 1e6 µm boundary mean free path; no κ with imaginary modes (Γ
    optical < 0, Γ acoustic < -0.01 THz, others < 0) or a changed space group.

    ``changes`` replace fields of the result at any depth (``{"fc3": {"method": "random"}}``;
    see :func:`latdyn.workflows.kappa_settings.with_changes`).

    Raises
    ------
    InputError
        ``atoms.info`` lacks a key the protocol needs, or a change names no field.
    """
    missing = [key for key in KSRME_INFO_KEYS if key not in atoms.info]
    if missing:
        raise InputError(
            f"the ksrme protocol needs atoms.info[{', '.join(map(repr, missing))}] "
            "(as in the κSRME structures file phononDB-PBE-structures.extxyz)"
        )
    primitive = atoms.info.get("primitive_matrix")
    settings = KappaWorkflowSettings(
        model=model or ModelSettings(),
        execution=execution or ExecutionSettings(),
        relax=True,
        relax_settings=RelaxSettings(fmax=1e-4, max_steps=300, optimizer="FIRE",
                                     relax_cell=True, fix_angles=True, fix_symmetry=True,
                                     symprec=1e-5),
        two_stage_relax=True,
        primitive_matrix="auto" if primitive is None else np.asarray(primitive).tolist(),
        fc2=FC2Spec(supercell=SupercellSpec(np.asarray(atoms.info["fc2_supercell"]).tolist()),
                    distance=0.03, plus_minus="auto", diagonal=False),
        fc3=FC3Spec(supercell=SupercellSpec(np.asarray(atoms.info["fc3_supercell"]).tolist()),
                    distance=0.03, method="fd"),
        fc_solver="auto",
        kappa=KappaSettings(mesh=tuple(int(n) for n in np.asarray(atoms.info["q_mesh"]).ravel()),
                            temperatures=(300.0,), method="wigner", isotope=True,
                            boundary_mfp=1e6),
        gate=GateSettings(imaginary_tolerance=0.0, force=False),
        protocol="ksrme",
        symprec=1e-5,
    )
    return with_changes(settings, changes or {})
