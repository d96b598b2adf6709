"""``FAMILY:PATH`` checkpoint loaders.

Error paths always run. Where a family's package is installed (a separate environment: each
pins its own torch), a tiny model with random weights is built with the family's own library,
saved in the file format the loader expects, loaded through ``latdyn.models.load_model`` and
run: forces, provenance and a small phonon calculation. Elsewhere those tests skip.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import bulk

from latdyn.errors import InputError, ModelError
from latdyn.models.checkpoints import (
    CHECKPOINT_FAMILIES,
    _orb_architecture,
    is_checkpoint_name,
    load_checkpoint,
)
from latdyn.models.registry import load_model
from latdyn.phonon import PhononSettings
from latdyn.settings import ExecutionSettings
from latdyn.workflows.phonons import PhononWorkflowSettings, run_phonon_workflow

#: The module each family imports first, and the package that provides it.
FAMILY_MODULES = {
    "pet": ("metatomic", "metatomic-torch"),
    "mace": ("mace", "mace-torch"),
    "orb": ("orb_models", "orb-models"),
    "mattersim": ("mattersim", "mattersim"),
    "fairchem": ("fairchem", "fairchem-core"),
}


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_every_family_is_listed():
    assert set(CHECKPOINT_FAMILIES) == set(FAMILY_MODULES)


def test_family_names_are_told_from_import_paths():
    assert is_checkpoint_name("mace:/tmp/model.model")
    assert not is_checkpoint_name("latdyn.models.testing:anisotropic_emt")
    assert not is_checkpoint_name("7net-0")


@pytest.mark.parametrize("family", sorted(FAMILY_MODULES))
def test_missing_weights_file(tmp_path, family):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(ModelError, match="does not exist"):
        load_model(f"{family}:{missing}")


def test_no_path_is_input_error():
    with pytest.raises(InputError, match="PATH"):
        load_checkpoint("mace:")


@pytest.mark.parametrize("family", sorted(FAMILY_MODULES))
def test_missing_package(tmp_path, family):
    module, package = FAMILY_MODULES[family]
    if installed(module):
        pytest.skip(f"{package} is installed; its missing-package path cannot be exercised")
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=package):
        load_model(f"{family}:{weights}")


def test_pet_training_checkpoint_is_refused(tmp_path):
    weights = tmp_path / "model.ckpt"
    weights.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="export"):
        load_model(f"pet:{weights}")


# --- tiny models with random weights, built in-process (nothing is downloaded) ---------------

#: Elements the tiny models are built for (ORB handles every element).
TINY_ELEMENTS = (7, 13, 14, 29)


def _build_mace(directory: Path) -> str:
    """A one-interaction, four-channel ScaleShiftMACE, pickled as ``torch.save(model)``."""
    import mace  # noqa: F401  (lets e3nn's constants load under torch's weights_only default)
    import torch
    from e3nn import o3
    from mace import modules

    torch.manual_seed(0)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.ScaleShiftMACE(
        r_max=4.0, num_bessel=4, num_polynomial_cutoff=3, max_ell=1,
        interaction_cls=block, interaction_cls_first=block, num_interactions=1,
        num_elements=len(TINY_ELEMENTS), hidden_irreps=o3.Irreps("4x0e"),
        MLP_irreps=o3.Irreps("4x0e"), atomic_energies=np.zeros(len(TINY_ELEMENTS)),
        avg_num_neighbors=8.0, atomic_numbers=list(TINY_ELEMENTS), correlation=2,
        gate=torch.nn.functional.silu, radial_MLP=[8],
        atomic_inter_scale=10.0, atomic_inter_shift=0.0,
    )
    path = directory / "tiny.model"
    torch.save(model, path)
    return f"mace:{path}"


def _build_orb(directory: Path) -> str:
    """The published orb-v3 conservative architecture with random weights, as a state dict.

    ORB's loader takes the architecture from the file name, so the model cannot be smaller
    than the published one (25.5M parameters, a 100 MB file, about 1 s per force on 2 cores).
    """
    import torch
    from orb_models.forcefield import pretrained

    torch.manual_seed(0)
    model = pretrained.orb_v3_conservative_architecture(device="cpu")
    path = directory / "orb-v3-conservative-inf-omat-20250404.ckpt"
    torch.save(model.state_dict(), path)
    return f"orb:{path}"


def _build_pet(directory: Path, dtype: str = "float32") -> str:
    """A one-layer, eight-channel PET (metatrain), exported as a metatomic model."""
    import torch
    from metatrain.pet import PET
    from metatrain.utils.architectures import get_default_hypers
    from metatrain.utils.data import DatasetInfo
    from metatrain.utils.data.target_info import get_energy_target_info

    hypers = get_default_hypers("pet")["model"]
    hypers.update(cutoff=4.0, d_pet=8, d_head=8, d_node=8, d_feedforward=8, num_heads=1,
                  num_attention_layers=1, num_gnn_layers=1)
    energy = get_energy_target_info("energy", {"quantity": "energy", "unit": "eV"})
    info = DatasetInfo(length_unit="Angstrom", atomic_types=list(TINY_ELEMENTS),
                       targets={"energy": energy})
    torch.manual_seed(0)
    model = PET(hypers, info).to(getattr(torch, dtype))
    path = directory / f"tiny-pet-{dtype}.pt"
    model.export().save(str(path))
    return f"pet:{path}"


#: Family -> builder of a tiny model file in a folder, returning the ``FAMILY:PATH`` name.
TINY_BUILDERS = {
    "mace": _build_mace,
    "orb": _build_orb,
    "pet": _build_pet,
}

#: Elements each loader reports (``None``: not declared by the model, no check).
SUPPORTED = {"mace": frozenset(TINY_ELEMENTS), "pet": frozenset(TINY_ELEMENTS), "orb": None}

#: The dtype each loader evaluates in.
LOADER_DTYPES = {"pet": "float32", "mace": "float64", "orb": "float32",
                 "mattersim": "float32", "fairchem": "float32"}


@pytest.mark.parametrize(("file_name", "expected"), [
    ("orb-v3-conservative-inf-omat-20250404.ckpt", "orb-v3-conservative-inf-omat"),
    ("orb-v3-conservative-inf-omat.ckpt", "orb-v3-conservative-inf-omat"),
    ("orb-v3-direct-20-omat-20250404.ckpt", "orb-v3-direct-20-omat"),
    ("orb_v3_conservative_inf_mpa_20250404.ckpt", "orb-v3-conservative-inf-mpa"),
    ("orb-v2-20241011.ckpt", "orb-v2"),
    ("orb-d3-sm-v2-20241011.ckpt", "orb-d3-sm-v2"),
])
def test_orb_architecture_from_file_name(file_name, expected):
    """The published names (``ORB_PRETRAINED_MODELS`` keys) are read off the file name."""
    names = ["orb-v3-conservative-inf-omat", "orb-v3-conservative-inf-mpa",
             "orb-v3-direct-20-omat", "orb-v2", "orb-d3-v2", "orb-d3-sm-v2"]
    pretrained = SimpleNamespace(ORB_PRETRAINED_MODELS={n: n.upper() for n in names})
    assert _orb_architecture(Path(file_name), pretrained) == (expected, expected.upper())


def test_orb_unknown_file_name_is_refused():
    pretrained = SimpleNamespace(ORB_PRETRAINED_MODELS={"orb-v2": None})
    with pytest.raises(ModelError, match="published name"):
        _orb_architecture(Path("my-model.ckpt"), pretrained)


def test_orb_weights_of_another_architecture(tmp_path):
    if not installed("orb_models"):
        pytest.skip("orb-models is not installed (optional extra; heavy, pins its own torch)")
    import torch

    weights = tmp_path / "orb-v3-conservative-inf-omat-20250404.ckpt"
    torch.save({"weight": torch.zeros(2)}, weights)
    with pytest.raises(ModelError, match="not a state dict of orb-v3-conservative-inf-omat"):
        load_model(f"orb:{weights}")


#: Families whose architecture is exactly rotation-equivariant (random weights included).
EQUIVARIANT = {"mace"}


def _rattled_aln(cubic: bool = True):
    """Rattled zincblende AlN: the 8-atom cubic cell, or 2x2x2 of the (skewed) primitive one."""
    atoms = bulk("AlN", "zincblende", a=4.4, cubic=True) if cubic else \
        bulk("AlN", "zincblende", a=4.4).repeat(2)
    atoms.rattle(0.05, seed=1)
    return atoms


@pytest.fixture(scope="module", params=sorted(FAMILY_MODULES))
def tiny(request, tmp_path_factory):
    """``(family, name, LoadedModel)`` of a tiny model, or skip."""
    family = request.param
    module, package = FAMILY_MODULES[family]
    if not installed(module):
        pytest.skip(f"{package} is not installed (optional extra; heavy, pins its own torch)")
    if family not in TINY_BUILDERS:
        pytest.skip(f"{package} is installed, but no tiny {family} model can be built here")
    if family == "pet" and not installed("metatrain"):
        pytest.skip("metatrain is not installed (needed to build a PET model)")
    name = TINY_BUILDERS[family](tmp_path_factory.mktemp(f"tiny-{family}"))
    yield family, name, load_model(name)
    Path(name.partition(":")[2]).unlink(missing_ok=True)  # ORB's is 100 MB


def test_tiny_model_provenance(tiny):
    family, name, model = tiny
    if family == "pet":  # metatomic-ase where installed, else metatomic-torch's calculator
        assert model.package in ("metatomic-ase", "metatomic-torch")
    else:
        assert model.package == FAMILY_MODULES[family][1]
    assert model.name == name
    assert model.version == importlib.metadata.version(model.package)
    assert model.dtype == LOADER_DTYPES[family]
    assert model.device == "cpu"
    assert model.options["weights"] == Path(name.partition(":")[2]).name
    assert name in model.identity
    assert model.supported_numbers == SUPPORTED[family]
    if model.supported_numbers is not None:
        with pytest.raises(ModelError, match="Fe"):
            model.check_elements(bulk("Fe"))


def test_tiny_model_forces(tiny):
    _, _, model = tiny
    atoms = _rattled_aln()
    atoms.calc = model.calculator
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    assert np.isfinite(energy)
    assert forces.shape == (len(atoms), 3)
    assert np.isfinite(forces).all()
    scale = np.abs(forces).max()
    assert scale > 1e-6, "random weights should give nonzero forces on a rattled cell"
    # translation invariance: no net force
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-4 * scale * len(atoms))
    _assert_shift_invariant(model, atoms, forces)


def _assert_shift_invariant(model, atoms, forces):
    shifted = atoms.copy()
    shifted.positions += [0.31, -0.17, 0.23]
    shifted.calc = model.calculator
    np.testing.assert_allclose(shifted.get_forces(), forces,
                               atol=1e-4 * np.abs(forces).max())


def test_tiny_model_skewed_cell(tiny, request):
    """A rigid shift of a skewed cell (lattice vectors 6.2 Å, widths 5.1 Å) changes nothing.

    orb-models 0.5.5 builds its periodic graph from the images within the cutoff of the
    origin plus one shell; in such a cell (cutoff 6 Å between width and vector length) the
    wrapped positions need images two cells away, so edges near 6 Å are dropped depending on
    where the atoms sit (1344 or 1360 of the 1376 edges here).
    """
    family, _, model = tiny
    if family == "orb":
        request.applymarker(pytest.mark.xfail(
            reason="orb-models drops periodic images in skewed cells", strict=False))
    atoms = _rattled_aln(cubic=False)
    atoms.calc = model.calculator
    _assert_shift_invariant(model, atoms, atoms.get_forces())


def test_tiny_model_forces_are_energy_gradients(tiny):
    """Central differences of the energy match the forces (units and sign are right)."""
    _, _, model = tiny
    atoms = _rattled_aln()
    atoms.calc = model.calculator
    forces = atoms.get_forces()
    atom, axis = np.unravel_index(np.abs(forces).argmax(), forces.shape)
    step = 1e-2 if model.dtype == "float32" else 1e-4
    energies = []
    for sign in (1, -1):
        moved = atoms.copy()
        moved.positions[atom, axis] += sign * step
        moved.calc = model.calculator
        energies.append(moved.get_potential_energy())
    numerical = -(energies[0] - energies[1]) / (2 * step)
    assert numerical == pytest.approx(forces[atom, axis], rel=2e-2)


def test_pet_dtype_is_read_from_the_model(tmp_path):
    if not installed("metatrain"):
        pytest.skip("metatrain is not installed (needed to build a PET model)")
    model = load_model(_build_pet(tmp_path, dtype="float64"))
    assert model.dtype == "float64"
    atoms = _rattled_aln()
    atoms.calc = model.calculator
    assert np.isfinite(atoms.get_forces()).all()


def test_tiny_model_phonons(tiny, tmp_path):
    """``latdyn phonons`` on diamond Si (2 atoms, no relaxation, small supercell)."""
    family, name, model = tiny
    settings = PhononWorkflowSettings(
        model=name, relax=False, min_length=5.0,
        execution=ExecutionSettings(cache_dir=str(tmp_path), progress=False),
        phonons=PhononSettings(band_npoints=5, mesh=(4, 4, 4), t_step=100.0,
                               projected_dos=False),
    )
    result = run_phonon_workflow(bulk("Si", "diamond", a=5.43), settings, model=model)
    phonons = result.phonons
    assert len(result.structure.atoms) == 2
    assert phonons.band_frequencies.shape[1] == 6
    assert np.isfinite(phonons.band_frequencies).all()
    assert np.isfinite(phonons.total_dos).all()
    scale = np.abs(phonons.band_frequencies).max()
    assert scale > 1e-3
    assert np.abs(np.sort(np.abs(phonons.gamma_frequencies))[:3]).max() < 1e-3 * scale + 1e-4
    assert result.model["name"] == name
    if family in EQUIVARIANT:  # site symmetry of diamond: no force in the perfect crystal
        assert np.abs(result.residual_forces).max() < 1e-4


def test_screen_and_load_model_share_the_name_resolver(tmp_path):
    """``latdyn screen`` checks names with load_model's resolver: FAMILY:PATH passes."""
    from latdyn.models.registry import resolve_model_name

    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights")
    for family in ("pet", "orb", "mace"):
        assert resolve_model_name(f"{family}:{weights}") == "checkpoint"
    missing = tmp_path / "missing.pt"
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_name(f"pet:{missing}")
    assert resolve_model_name(f"pet:{missing}", local=False) == "checkpoint"
    assert resolve_model_name("emt") == "registry"
    assert resolve_model_name("latdyn.models.testing:anisotropic_emt") == "import"
    with pytest.raises(InputError, match="cannot import module"):
        resolve_model_name("no_such_module_xyz:factory")
    with pytest.raises(InputError, match="unknown model"):
        resolve_model_name("no-such-model")
