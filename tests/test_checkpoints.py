"""``FAMILY:PATH`` checkpoint loaders: error paths (weights cannot be downloaded here)."""

from __future__ import annotations

import importlib.util

import pytest

from latdyn.errors import InputError, ModelError
from latdyn.models.checkpoints import CHECKPOINT_FAMILIES, is_checkpoint_name, load_checkpoint
from latdyn.models.registry import load_model

#: The module each family imports first, and the package that provides it.
FAMILY_MODULES = {
    "pet": ("metatomic", "metatomic"),
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


@pytest.mark.parametrize("family", sorted(FAMILY_MODULES))
def test_load_tiny_model(family):
    module, package = FAMILY_MODULES[family]
    if not installed(module):
        pytest.skip(f"{package} is not installed (optional extra; heavy, pins its own torch)")
    pytest.skip(f"{package} is installed, but no tiny {family} weights can be built offline")
