"""Settings shared by every command: which model runs where, and how forces are evaluated.

:class:`ModelSettings` (model name, device, symmetrization) loads the model and builds its force
backend in one step; :class:`ExecutionSettings` (force cache, progress bars) says how a run
evaluates forces. Each command's settings hold one of each instead of repeating their fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from latdyn.errors import InputError
from latdyn.forces.backend import ForceBackend
from latdyn.forces.cache import ForceCache, cache_record
from latdyn.models.loaded import LoadedModel
from latdyn.models.registry import DEFAULT_MODEL, load_model
from latdyn.structure.symmetry import DEFAULT_SYMPREC
from latdyn.symmetrize.calculator import SymmetrizationSettings
from latdyn.symmetrize.model import symmetrization_settings, symmetrize_model

#: Devices a model may run on.
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class ModelSettings:
    """Which model, on which device, symmetrized how.

    Attributes
    ----------
    name
        Registry name, ``FAMILY:PATH`` of a checkpoint or ``package.module:factory``
        (see :func:`latdyn.models.registry.load_model`).
    device
        ``cpu`` or ``cuda``.
    symmetrize, rotations
        Symmetrization of the model's predictions (``none``, ``spacegroup``, ``o3``, ``full``)
        and the Lebedev order of the O(3) average (see :mod:`latdyn.symmetrize`).
    """

    name: str = DEFAULT_MODEL
    device: str = "cpu"
    symmetrize: str = "none"
    rotations: int | None = None

    def __post_init__(self):
        if self.device not in DEVICES:
            raise InputError(f"unknown device {self.device!r}; choose cpu or cuda")
        self.symmetrization()  # validates the mode and the order

    def symmetrization(self, symprec: float = DEFAULT_SYMPREC) -> SymmetrizationSettings:
        """The symmetrization, with the default O(3) order resolved."""
        return symmetrization_settings(self.symmetrize, self.rotations, symprec)

    def load(self, symprec: float = DEFAULT_SYMPREC, model: LoadedModel | None = None
             ) -> tuple[LoadedModel, ForceBackend]:
        """The (symmetrized) model and its force backend.

        ``model``: an already loaded raw model to use instead of loading :attr:`name`;
        ``symprec``: the tolerance (Å) of the space-group projection.
        """
        model = model or load_model(self.name, self.device)
        model = symmetrize_model(model, self.symmetrize, self.rotations, symprec)
        return model, model.backend()


@dataclass(frozen=True)
class ExecutionSettings:
    """How a run evaluates forces: the force cache and progress bars.

    Attributes
    ----------
    cache_dir
        Force cache folder; ``None`` uses the default (``$LATDYN_CACHE_DIR`` or ``~/.cache``).
    use_cache
        Read and write the force cache.
    progress
        Show progress bars.
    """

    cache_dir: str | None = None
    use_cache: bool = True
    progress: bool = True

    def cache(self) -> ForceCache | None:
        """The force cache, or ``None`` without one."""
        return ForceCache(self.cache_dir) if self.use_cache else None

    def cache_record(self) -> dict:
        """``summary.json``'s record of the force cache (folder actually used and its source)."""
        return cache_record(self.cache_dir, self.use_cache)


def model_settings(value: ModelSettings | str) -> ModelSettings:
    """``value`` as :class:`ModelSettings` (a bare name is the raw model on the CPU)."""
    return ModelSettings(name=value) if isinstance(value, str) else value


def settings_record(settings, cache_dir: str | None) -> dict:
    """A command's settings as ``summary.json`` records them: nested as the settings objects
    are, with ``execution.cache_dir`` the cache folder actually used (also when
    ``$LATDYN_CACHE_DIR`` or the default chose it)."""
    record = asdict(settings)
    record["execution"]["cache_dir"] = cache_dir
    return record
