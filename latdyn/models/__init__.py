"""MLIP registry: names to ASE calculators, imported lazily, with provenance."""

from latdyn.models.registry import DEFAULT_MODEL, LoadedModel, available_models, load_model

__all__ = ["DEFAULT_MODEL", "LoadedModel", "available_models", "load_model"]
