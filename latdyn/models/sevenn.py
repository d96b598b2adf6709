"""The SevenNet family: pretrained models shipped in the ``sevenn`` wheel.

Its force backend batches displaced supercells through one model call
(:class:`latdyn.forces.sevenn.SevenNetBatchBackend`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from latdyn.forces.backend import ForceBackend
from latdyn.models.loaded import LoadedModel, package_version, require, weights_digest


def sevenn_backend(model: LoadedModel, batch_size: int | None = None) -> ForceBackend:
    """The batched SevenNet backend: ``batch_size`` structures per model call, by default 8 on
    a GPU and 1 on the CPU (where batching measured 2x slower for 64-atom MgO supercells: the
    CPU is already saturated by one graph)."""
    from latdyn.forces.sevenn import SevenNetBatchBackend

    if batch_size is None:
        batch_size = 8 if model.device == "cuda" else 1
    return SevenNetBatchBackend(model.calculator, model.identity, batch_size=batch_size)


def sevenn_loader(checkpoint: str, name: str, modal: str | None) -> Callable[[str], LoadedModel]:
    """A loader of the pretrained SevenNet ``checkpoint`` (``modal``: its head, if several)."""

    def load(device: str) -> LoadedModel:
        require("sevenn", "sevenn")
        from sevenn.calculator import SevenNetCalculator
        from sevenn.util import pretrained_name_to_path

        from latdyn.forces.sevenn import disable_torchscript_specialization

        kwargs = {"modal": modal} if modal else {}
        disable_torchscript_specialization()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calc = SevenNetCalculator(checkpoint, device=device, **kwargs)
        return LoadedModel(
            name=name,
            calculator=calc,
            package="sevenn",
            version=package_version("sevenn"),
            dtype="float32",
            device=device,
            supported_numbers=frozenset(int(z) for z in calc.type_map),
            options={"modal": modal} if modal else {},
            weights_sha256=weights_digest(pretrained_name_to_path(checkpoint)),
            backend_factory=sevenn_backend,
        )

    return load
