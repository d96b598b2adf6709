"""The model registry.

``load_model(name, device)`` returns a :class:`LoadedModel`: an ASE calculator plus its provenance
(name, package, version, dtype, device) and the elements it supports. MLIP packages are imported
only when their model is asked for.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ase.calculators.calculator import Calculator
from ase.data import atomic_numbers

from latdyn.errors import InputError, ModelError
from latdyn.models.checkpoints import CHECKPOINT_FAMILIES, load_checkpoint
from latdyn.models.loaded import LoadedModel, package_version, require, weights_digest
from latdyn.models.sevenn import sevenn_loader

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "7net-0"

#: Elements ASE's EMT has parameters for.
EMT_ELEMENTS = frozenset(["Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "H", "C", "N", "O"])


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: how to build a model and what it is."""

    name: str
    description: str
    package: str
    loader: Callable[[str], LoadedModel]


def _load_chgnet(device: str) -> LoadedModel:
    require("chgnet", "chgnet")
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    model = CHGNet.load(model_name="0.3.0", use_device=device, verbose=False)
    calc = CHGNetCalculator(model=model, use_device=device)
    weights = sorted((Path(importlib.import_module("chgnet").__file__).parent / "pretrained"
                      / "0.3.0").glob("*.pth.tar"))
    return LoadedModel(
        name="chgnet",
        calculator=calc,
        package="chgnet",
        version=package_version("chgnet"),
        dtype="float32",
        device=device,
        supported_numbers=frozenset(range(1, 95)),
        options={"weights": "0.3.0"},
        weights_sha256=weights_digest(*weights),
    )


def _load_emt(device: str) -> LoadedModel:
    from ase.calculators.emt import EMT

    return LoadedModel(
        name="emt",
        calculator=EMT(),
        package="ase",
        version=package_version("ase"),
        dtype="float64",
        device="cpu",
        supported_numbers=frozenset(atomic_numbers[s] for s in EMT_ELEMENTS),
    )


_REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("7net-0", "SevenNet-0 (MPtrj, PBE), weights in the sevenn wheel", "sevenn",
                  sevenn_loader("7net-0", "7net-0", None)),
        ModelSpec("7net-l3i5", "SevenNet-l3i5 (MPtrj, PBE), weights in the sevenn wheel", "sevenn",
                  sevenn_loader("7net-l3i5", "7net-l3i5", None)),
        ModelSpec("7net-mf-0", "SevenNet-MF-0, PBE head, weights in the sevenn wheel", "sevenn",
                  sevenn_loader("7net-mf-0", "7net-mf-0", "PBE")),
        ModelSpec("chgnet", "CHGNet 0.3.0 (MPtrj), weights in the chgnet wheel", "chgnet",
                  _load_chgnet),
        ModelSpec("emt", "ASE's effective-medium theory (Al Cu Ag Au Ni Pd Pt); tests and demos",
                  "ase", _load_emt),
    ]
}


def available_models() -> list[ModelSpec]:
    """The registered models (not counting ``package.module:factory`` import paths)."""
    return list(_REGISTRY.values())


def _load_import_path(path: str, device: str) -> LoadedModel:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise InputError(f"model import path {path!r} must look like package.module:factory")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, SyntaxError or anything the module raises
        raise ModelError(f"model {path}: cannot import module {module_name!r} "
                         f"({type(exc).__name__}: {exc})") from None
    factory = getattr(module, attribute, None)
    if factory is None:
        raise ModelError(f"model {path}: module {module_name!r} has no attribute {attribute!r}")
    try:
        calc = factory() if callable(factory) and not isinstance(factory, Calculator) else factory
    except Exception as exc:  # a factory may fail in any way
        raise ModelError(f"model {path}: the factory raised {type(exc).__name__}: {exc}"
                         ) from None
    if not hasattr(calc, "get_forces") and not hasattr(calc, "calculate"):
        raise ModelError(f"{path} did not give an ASE calculator (got {type(calc).__name__})")
    package = module_name.split(".")[0]
    supported = getattr(calc, "supported_numbers", None)
    declared = getattr(calc, "latdyn_identity", None) or getattr(factory, "latdyn_identity", None)
    if declared is None:
        logger.warning("model %s declares no identity (latdyn_identity): its forces are not "
                       "cached", path)
    return LoadedModel(
        name=path,
        calculator=calc,
        package=package,
        version=package_version(package),
        dtype=str(getattr(calc, "dtype", "float64")),
        device=device,
        supported_numbers=frozenset(supported) if supported is not None else None,
        declared_identity=None if declared is None else str(declared),
        cacheable=declared is not None,
    )


#: What a model name refers to: a registry entry, a ``FAMILY:PATH`` checkpoint or a
#: ``package.module:factory`` import path.
MODEL_KINDS = ("registry", "checkpoint", "import")


def resolve_model_name(name: str, local: bool = True) -> str:
    """The kind of model ``name`` refers to (one of :data:`MODEL_KINDS`), checked without
    loading it: the resolver of :func:`load_model` and of ``latdyn screen``'s early check.

    ``local``: also check what this machine can check, that a checkpoint file exists and an
    import path's module is importable (not for models loaded elsewhere, e.g. on Dask workers).

    Raises
    ------
    InputError
        Unknown registry name, unknown family, no path, or an unimportable module.
    ModelError
        A checkpoint file that does not exist (``local`` only).
    """
    family, sep, location = name.partition(":")
    if sep and family in CHECKPOINT_FAMILIES:
        if not location:
            raise InputError(f"give the weights file after the family: {family}:PATH")
        path = Path(location).expanduser()
        if local and not path.is_file():
            raise ModelError(f"{family} weights file {path} does not exist; weights are not "
                             "downloaded, give the path of a local file")
        return "checkpoint"
    if sep:
        if not family or not location:
            raise InputError(f"model import path {name!r} must look like package.module:factory")
        if local:
            try:
                found = importlib.util.find_spec(family) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise InputError(f"cannot import module {family!r} of model {name!r}; check "
                                 "the name and PYTHONPATH")
        return "import"
    if name not in _REGISTRY:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}, "
                         f"FAMILY:PATH ({', '.join(CHECKPOINT_FAMILIES)}) or give "
                         "package.module:factory")
    return "registry"


def check_device(device: str) -> None:
    """Raise unless ``device`` is ``cpu`` or an available ``cuda``."""
    if device not in ("cpu", "cuda"):
        raise InputError(f"unknown device {device!r}; choose cpu or cuda")
    if device == "cuda":
        torch = require("torch", "sevenn")
        if not torch.cuda.is_available():
            raise ModelError("--device cuda was asked for but no CUDA GPU is available; use cpu")


def load_model(name: str = DEFAULT_MODEL, device: str = "cpu") -> LoadedModel:
    """Build the model called ``name`` on ``device`` (``cpu`` or ``cuda``).

    ``name`` is a registry name (see :func:`available_models`) or ``package.module:factory``, an
    import path to a callable returning an ASE calculator, or ``FAMILY:PATH`` for a local
    checkpoint of a known family (see :mod:`latdyn.models.checkpoints`); see
    :func:`resolve_model_name`.
    """
    check_device(device)
    kind = resolve_model_name(name, local=False)
    if kind == "checkpoint":
        return load_checkpoint(name, device)
    if kind == "import":
        return _load_import_path(name, device)
    if _REGISTRY[name].package == "ase":
        return _REGISTRY[name].loader(device)
    return _load_registered(name, device)


@functools.cache
def _load_registered(name: str, device: str) -> LoadedModel:
    """A registry MLIP, built once per process (construction costs seconds; the calculator
    keeps no state between structures that would make sharing it wrong)."""
    logger.info("loading model %s on %s", name, device)
    return _REGISTRY[name].loader(device)
