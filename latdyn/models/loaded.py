"""A loaded model: an ASE calculator, its provenance and its force backend.

Every model family (:mod:`latdyn.models.registry` for the named models,
:mod:`latdyn.models.sevenn`, :mod:`latdyn.models.checkpoints` for ``FAMILY:PATH``) returns a
:class:`LoadedModel`; it states the model's identity (which keys the force cache) and builds the
family's force backend (batched where the family can batch).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from latdyn.errors import ModelError
from latdyn.forces.allocator import keep_freed_memory
from latdyn.forces.backend import ASECalculatorBackend, ForceBackend


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
    backend_factory
        ``(model, batch_size) -> ForceBackend``: the family's own force backend (SevenNet's
        batches); ``None``: :class:`~latdyn.forces.backend.ASECalculatorBackend`.
    unsymmetrized
        For a symmetrized model (:func:`latdyn.symmetrize.symmetrize_model`), the raw one.
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
    backend_factory: Callable[[LoadedModel, int | None], ForceBackend] | None = field(
        default=None, compare=False, repr=False)
    unsymmetrized: LoadedModel | None = field(default=None, compare=False, repr=False)

    def backend(self, batch_size: int | None = None) -> ForceBackend:
        """The model's force backend (``batch_size`` structures per call where the family
        batches; ``None``: the family's default). Freed memory is kept for the next call
        (:func:`latdyn.forces.allocator.keep_freed_memory`)."""
        keep_freed_memory()
        if self.backend_factory is None:
            return ASECalculatorBackend(self.calculator, self.identity)
        return self.backend_factory(self, batch_size)

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


def package_version(package: str) -> str:
    """The installed version of ``package`` (``unknown`` when it is not installed)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def weights_digest(*paths) -> dict[str, str]:
    """File name -> SHA-256 of each weights file."""
    from latdyn.provenance import file_sha256

    return {Path(p).name: file_sha256(p) for p in paths}


def require(module: str, extra: str | None = None, package: str | None = None):
    """Import ``module``, or raise :class:`ModelError` saying how to install it: the latdyn
    ``extra``, or else the ``package`` itself (a family that pins its own torch)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = package or module
        how = (f"`pip install latdyn[{extra}]`" if extra else
               f"`pip install {package}` (it brings its own torch: use a separate environment "
               "if its torch pin clashes)")
        raise ModelError(f"the model needs the Python package '{package}' ({exc}); install it "
                         f"with {how}") from None
