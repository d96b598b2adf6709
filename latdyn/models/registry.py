"""The model registry.

``load_model(name, device)`` returns a :class:`LoadedModel`: an ASE calculator plus its provenance
(name, package, version, dtype, device) and the elements it supports. MLIP packages are imported
only when their model is asked for.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.data import atomic_numbers, chemical_symbols

from latdyn.errors import InputError, ModelError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "7net-0"

#: Elements ASE's EMT has parameters for.
EMT_ELEMENTS = frozenset(["Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "H", "C", "N", "O"])


@dataclass(frozen=True)
class LoadedModel:
    """An ASE calculator with provenance.

    Attributes
    ----------
    name
        Registry name (``7net-0``, ``emt``, ``pkg.mod:factory``...).
    calculator
        The ASE calculator (energy in eV, forces in eV/Å, stress in eV/Å³).
    package, version
        The Python package that provides the model and its version.
    dtype, device
        Floating-point precision and device of the evaluation.
    supported_numbers
        Atomic numbers the model handles; ``None`` when unknown (no check is made).
    options
        Settings that change the predictions (part of :attr:`identity`).
    small_cells_exact
        Whether the model sees every periodic image in cells narrower than its cutoff, so a
        perfect supercell's forces are its unit cell's, repeated. ``False`` for ORB
        (orb-models 0.5 misses images of skewed cells): residual forces then come from the
        supercell itself.
    weights_sha256
        File name -> SHA-256 of every weights file the model reads (part of :attr:`identity`).
    declared_identity
        For a ``package.module:factory`` model: the ``latdyn_identity`` its factory or
        calculator declares (part of :attr:`identity`).
    cacheable
        Whether the identity pins the predictions down. ``False`` for a factory model that
        declares no identity: editing its code would change its forces without changing any
        key, so its forces are never cached.
    """

    name: str
    calculator: Calculator
    package: str
    version: str
    dtype: str
    device: str
    supported_numbers: frozenset[int] | None = None
    options: dict = field(default_factory=dict)
    small_cells_exact: bool = True
    weights_sha256: dict = field(default_factory=dict)
    declared_identity: str | None = None
    cacheable: bool = True

    @property
    def identity(self) -> str | None:
        """A string that identifies the model's predictions from its content (weights, code
        version, declared identity, options); it keys the force cache. ``None`` when the model
        is not :attr:`cacheable`."""
        if not self.cacheable:
            return None
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        weights = ",".join(f"{k}:{v}" for k, v in sorted(self.weights_sha256.items()))
        declared = "" if self.declared_identity is None else f"|declared={self.declared_identity}"
        return (f"{self.name}|{self.package}=={self.version}|{self.dtype}|{extra}"
                f"|weights={weights}{declared}")

    @property
    def cache_note(self) -> str:
        """Whether and why the model's forces are cached (for stderr and ``summary.json``)."""
        if self.cacheable:
            source = "weights SHA-256" if self.weights_sha256 else (
                "declared identity" if self.declared_identity else "package version")
            return f"cached (identity from the {source})"
        return ("not cached: the factory declares no identity; set a `latdyn_identity` string "
                "on the factory or its calculator (change it whenever the predictions change) "
                "to cache its forces")

    def provenance(self) -> dict:
        """What ``summary.json`` records about the model."""
        return {
            "name": self.name,
            "package": self.package,
            "version": self.version,
            "dtype": self.dtype,
            "device": self.device,
            "options": dict(self.options),
            "weights_sha256": dict(self.weights_sha256),
            "declared_identity": self.declared_identity,
            "identity": self.identity,
            "force_cache": self.cache_note,
        }

    def check_elements(self, atoms: Atoms) -> None:
        """Raise :class:`ModelError` if ``atoms`` has an element the model does not support."""
        if self.supported_numbers is None:
            return
        missing = sorted(set(int(z) for z in atoms.numbers) - self.supported_numbers)
        if missing:
            names = ", ".join(chemical_symbols[z] for z in missing)
            raise ModelError(
                f"model {self.name} does not support element(s) {names}; "
                "choose another model (see `latdyn models`)"
            )


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: how to build a model and what it is."""

    name: str
    description: str
    package: str
    loader: Callable[[str], LoadedModel]


def _package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def weights_digest(*paths) -> dict[str, str]:
    """File name -> SHA-256 of each weights file."""
    from latdyn.provenance import file_sha256

    return {Path(p).name: file_sha256(p) for p in paths}


def _require(package: str, extra: str):
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise ModelError(
            f"the model needs the Python package '{package}' ({exc}); "
            f"install it with `pip install latdyn[{extra}]`"
        ) from None


def _load_sevenn(checkpoint: str, name: str, modal: str | None) -> Callable[[str], LoadedModel]:
    def load(device: str) -> LoadedModel:
        _require("sevenn", "sevenn")
        from sevenn.calculator import SevenNetCalculator
        from sevenn.util import pretrained_name_to_path

        kwargs = {"modal": modal} if modal else {}
        from latdyn.forces.sevenn import disable_torchscript_specialization

        disable_torchscript_specialization()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calc = SevenNetCalculator(checkpoint, device=device, **kwargs)
        return LoadedModel(
            name=name,
            calculator=calc,
            package="sevenn",
            version=_package_version("sevenn"),
            dtype="float32",
            device=device,
            supported_numbers=frozenset(int(z) for z in calc.type_map),
            options={"modal": modal} if modal else {},
            weights_sha256=weights_digest(pretrained_name_to_path(checkpoint)),
        )

    return load


def _load_chgnet(device: str) -> LoadedModel:
    _require("chgnet", "chgnet")
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
        version=_package_version("chgnet"),
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
        version=_package_version("ase"),
        dtype="float64",
        device="cpu",
        supported_numbers=frozenset(atomic_numbers[s] for s in EMT_ELEMENTS),
    )


_REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("7net-0", "SevenNet-0 (MPtrj, PBE), weights in the sevenn wheel", "sevenn",
                  _load_sevenn("7net-0", "7net-0", None)),
        ModelSpec("7net-l3i5", "SevenNet-l3i5 (MPtrj, PBE), weights in the sevenn wheel", "sevenn",
                  _load_sevenn("7net-l3i5", "7net-l3i5", None)),
        ModelSpec("7net-mf-0", "SevenNet-MF-0, PBE head, weights in the sevenn wheel", "sevenn",
                  _load_sevenn("7net-mf-0", "7net-mf-0", "PBE")),
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
        version=_package_version(package),
        dtype=str(getattr(calc, "dtype", "float64")),
        device=device,
        supported_numbers=frozenset(supported) if supported is not None else None,
        declared_identity=None if declared is None else str(declared),
        cacheable=declared is not None,
    )


def load_model(name: str = DEFAULT_MODEL, device: str = "cpu") -> LoadedModel:
    """Build the model called ``name`` on ``device`` (``cpu`` or ``cuda``).

    ``name`` is a registry name (see :func:`available_models`) or ``package.module:factory``, an
    import path to a callable returning an ASE calculator, or ``FAMILY:PATH`` for a local
    checkpoint of a known family (see :mod:`latdyn.models.checkpoints`).
    """
    if device not in ("cpu", "cuda"):
        raise InputError(f"unknown device {device!r}; choose cpu or cuda")
    if device == "cuda":
        torch = _require("torch", "sevenn")
        if not torch.cuda.is_available():
            raise ModelError("--device cuda was asked for but no CUDA GPU is available; use cpu")
    from latdyn.models.checkpoints import is_checkpoint_name, load_checkpoint

    if is_checkpoint_name(name):
        return load_checkpoint(name, device)
    if ":" in name:
        return _load_import_path(name, device)
    spec = _REGISTRY.get(name)
    if spec is None:
        valid = ", ".join(_REGISTRY)
        raise InputError(
            f"unknown model {name!r}; choose one of {valid} or give package.module:factory"
        )
    if spec.package == "ase":
        return spec.loader(device)
    return _load_registered(name, device)


@functools.cache
def _load_registered(name: str, device: str) -> LoadedModel:
    """A registry MLIP, built once per process (construction costs seconds; the calculator
    keeps no state between structures that would make sharing it wrong)."""
    logger.info("loading model %s on %s", name, device)
    return _REGISTRY[name].loader(device)
