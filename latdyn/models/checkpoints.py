"""Models loaded from a local checkpoint file: ``--model FAMILY:PATH``.

Families: ``pet`` (a metatomic-exported PET / UPET model, ``.pt``), ``mace``, ``orb``,
``mattersim`` and ``fairchem`` (eSEN / UMA). Each family's package is imported only when one of
its models is asked for; a missing package or weights file raises :class:`ModelError` saying
what to install or where the file should be. Weights are never downloaded.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable
from pathlib import Path

from latdyn.errors import InputError, ModelError
from latdyn.models.loaded import LoadedModel, package_version, require, weights_digest


def _loaded(family: str, path: Path, calculator, package: str, dtype: str, device: str,
            options: dict | None = None,
            supported_numbers: frozenset[int] | None = None,
            small_cells_exact: bool = True) -> LoadedModel:
    return LoadedModel(
        name=f"{family}:{path}",
        calculator=calculator,
        package=package,
        version=package_version(package),
        dtype=dtype,
        device=device,
        supported_numbers=supported_numbers,
        options={"weights": path.name, **(options or {})},
        small_cells_exact=small_cells_exact,
        weights_sha256=weights_digest(path),
    )


def _load_pet(path: Path, device: str) -> LoadedModel:
    if path.suffix == ".ckpt":
        raise ModelError(f"{path} is a training checkpoint; export it to a metatomic model "
                         "first (`mtt export MODEL.ckpt -o model.pt`) and give the .pt file")
    try:
        module = importlib.import_module("metatomic_ase")
        package = "metatomic-ase"
    except ImportError:
        module = require("metatomic.torch.ase_calculator", package="metatomic-torch")
        package = "metatomic-torch"
    calculator = module.MetatomicCalculator(str(path), device=device)
    # the exported model declares its dtype and elements (PET-MAD / UPET: float32)
    dtype, numbers = "float32", None
    try:
        capabilities = calculator.model().capabilities()
        dtype = str(capabilities.dtype)
        numbers = frozenset(int(z) for z in capabilities.atomic_types)
    except AttributeError:  # an older calculator without model(): keep the defaults
        pass
    return _loaded("pet", path, calculator, package, dtype, device,
                   supported_numbers=numbers or None)


def _load_mace(path: Path, device: str) -> LoadedModel:
    module = require("mace.calculators", package="mace-torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calculator = module.MACECalculator(model_paths=str(path), device=device,
                                           default_dtype="float64")
    table = getattr(calculator, "z_table", None)
    numbers = frozenset(int(z) for z in table.zs) if table is not None else None
    return _loaded("mace", path, calculator, "mace-torch", "float64", device,
                   supported_numbers=numbers)


def _orb_architecture(path: Path, pretrained) -> tuple[str, Callable]:
    """The published ORB model whose name starts the file name, and its loader.

    ``orb-v3-conservative-inf-omat-20250404.ckpt`` (optionally without the date, or with a
    ``-suffix`` after the name) -> ``orb-v3-conservative-inf-omat``.
    """
    models = getattr(pretrained, "ORB_PRETRAINED_MODELS", None)
    if models is None:  # older orb-models: the loaders are the module's orb_* functions
        models = {n.replace("_", "-"): getattr(pretrained, n) for n in dir(pretrained)
                  if n.startswith("orb_") and callable(getattr(pretrained, n))
                  and not n.endswith("architecture")}
    stem = re.sub(r"-\d{8}$", "", path.stem).replace("_", "-")
    matches = sorted((n for n in models if stem == n or stem.startswith(f"{n}-")),
                     key=len, reverse=True)
    if not matches:
        raise ModelError(
            f"cannot tell the ORB architecture from the file name {path.name}; keep the "
            f"published name (e.g. orb-v3-conservative-inf-omat-20250404.ckpt); known: "
            f"{', '.join(sorted(models))}"
        )
    return matches[0], models[matches[0]]


def _load_orb(path: Path, device: str) -> LoadedModel:
    pretrained = require("orb_models.forcefield.pretrained", package="orb-models")
    calculator_module = require("orb_models.forcefield.calculator", package="orb-models")
    architecture, loader = _orb_architecture(path, pretrained)
    # orb-models compiles by default; on CPU that costs about a minute before the first
    # force (67 s on 2 cores, for 1 s per force after) and needs a C++ compiler: run eagerly.
    compile_model = False if device == "cpu" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Setting global torch default dtype to float32"
        try:
            model = loader(weights_path=str(path), device=device, precision="float32-highest",
                           compile=compile_model)
        except RuntimeError as exc:  # a state dict of another architecture
            detail = str(exc) if len(str(exc)) < 300 else f"{str(exc)[:300]}..."
            raise ModelError(f"{path.name} is not a state dict of {architecture} "
                             f"(the architecture is read from the file name): {detail}"
                             ) from None
    calculator = calculator_module.ORBCalculator(model, device=device)
    # orb-models 0.5 misses periodic images of skewed cells narrower than its 6 Å cutoff
    return _loaded("orb", path, calculator, "orb-models", "float32", device,
                   {"architecture": architecture}, small_cells_exact=False)


def _load_mattersim(path: Path, device: str) -> LoadedModel:
    module = require("mattersim.forcefield", package="mattersim")
    calculator = module.MatterSimCalculator(load_path=str(path), device=device)
    return _loaded("mattersim", path, calculator, "mattersim", "float32", device)


def _load_fairchem(path: Path, device: str) -> LoadedModel:
    module = require("fairchem.core", package="fairchem-core")
    predictor = module.pretrained_mlip.load_predict_unit(str(path), device=device)
    calculator = module.FAIRChemCalculator(predictor, task_name="omat")
    return _loaded("fairchem", path, calculator, "fairchem-core", "float32", device,
                   {"task": "omat"})


#: Family name -> loader taking the weights path and the device.
CHECKPOINT_FAMILIES: dict[str, Callable[[Path, str], LoadedModel]] = {
    "pet": _load_pet,
    "mace": _load_mace,
    "orb": _load_orb,
    "mattersim": _load_mattersim,
    "fairchem": _load_fairchem,
}


def is_checkpoint_name(name: str) -> bool:
    """Whether ``name`` has the ``FAMILY:PATH`` form of a known family."""
    family, sep, _ = name.partition(":")
    return bool(sep) and family in CHECKPOINT_FAMILIES


def load_checkpoint(name: str, device: str = "cpu") -> LoadedModel:
    """Load ``FAMILY:PATH`` on ``device``.

    Raises
    ------
    InputError
        Unknown family or no path.
    ModelError
        The weights file is missing or the family's package is not installed.
    """
    family, _, location = name.partition(":")
    if family not in CHECKPOINT_FAMILIES:
        raise InputError(f"unknown model family {family!r}; choose one of "
                         f"{', '.join(CHECKPOINT_FAMILIES)}")
    if not location:
        raise InputError(f"give the weights file after the family: {family}:PATH")
    path = Path(location).expanduser()
    if not path.is_file():
        raise ModelError(f"{family} weights file {path} does not exist; weights are not "
                         "downloaded, give the path of a local file")
    return CHECKPOINT_FAMILIES[family](path, device)
