"""One typed record of a κ result: what ``summary.json``, the screen store and the benchmark
report about it, built once from :class:`~latdyn.kappa.conductivity.Kappa`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latdyn.kappa.conductivity import VOIGT, Kappa


def _tensor(values) -> dict:
    return {component: float(v) for component, v in zip(VOIGT, values, strict=True)}


@dataclass(frozen=True)
class KappaRecord:
    """The numbers of a κ result, as plain Python types.

    Attributes
    ----------
    method, kernel
        ``rta``/``wigner``/``lbte``, and the linewidth kernel used.
    mesh
        The q-mesh.
    temperatures
        K.
    kappa, kappa_particle, kappa_coherence
        Per temperature, the six Voigt components (xx, yy, zz, yz, xz, xy), W/(m K).
    kappa_trace_average
        Per temperature, the trace average of ``kappa``, W/(m K).
    isotope, boundary_mfp
        Isotope scattering, and the boundary mean free path (µm) or ``None``.
    n_irreducible_qpoints
        Irreducible q-points of the mesh.
    seconds, seconds_by_part
        Wall time of the κ step (s) and where it went.
    """

    method: str
    kernel: str
    mesh: tuple[int, ...]
    temperatures: tuple[float, ...]
    kappa: tuple[tuple[float, ...], ...]
    kappa_particle: tuple[tuple[float, ...], ...]
    kappa_coherence: tuple[tuple[float, ...], ...]
    kappa_trace_average: tuple[float, ...]
    isotope: bool
    boundary_mfp: float | None
    n_irreducible_qpoints: int
    seconds: float
    seconds_by_part: dict

    @classmethod
    def from_result(cls, kappa: Kappa) -> KappaRecord:
        """The record of ``kappa``."""
        def rows(values):
            return tuple(tuple(float(v) for v in row) for row in np.asarray(values))

        return cls(
            method=kappa.method, kernel=kappa.kernel,
            mesh=tuple(int(n) for n in np.asarray(kappa.mesh)),
            temperatures=tuple(float(t) for t in np.asarray(kappa.temperatures)),
            kappa=rows(kappa.kappa), kappa_particle=rows(kappa.kappa_particle),
            kappa_coherence=rows(kappa.kappa_coherence),
            kappa_trace_average=tuple(float(v) for v in np.asarray(kappa.kappa_trace_average)),
            isotope=bool(kappa.isotope), boundary_mfp=kappa.boundary_mfp,
            n_irreducible_qpoints=len(kappa.qpoints), seconds=float(kappa.seconds),
            seconds_by_part=dict(kappa.timings),
        )

    def summary(self) -> dict:
        """``summary.json``'s ``kappa`` section."""
        return {
            "method": self.method,
            "mesh": list(self.mesh),
            "kernel": self.kernel,
            "seconds": self.seconds,
            "seconds_by_part": dict(self.seconds_by_part),
            "n_irreducible_qpoints": self.n_irreducible_qpoints,
            "isotope": self.isotope,
            "boundary_mfp_um": self.boundary_mfp,
            "unit": "W/(m K)",
            "temperatures_K": list(self.temperatures),
            "kappa_trace_average": list(self.kappa_trace_average),
            "per_temperature": [
                {
                    "temperature_K": t,
                    "kappa": _tensor(self.kappa[i]),
                    "kappa_particle": _tensor(self.kappa_particle[i]),
                    "kappa_coherence": _tensor(self.kappa_coherence[i]),
                    "kappa_trace_average": self.kappa_trace_average[i],
                }
                for i, t in enumerate(self.temperatures)
            ],
        }

    def store(self) -> dict:
        """The screen store's ``kappa`` entry."""
        return {
            "temperatures_K": list(self.temperatures),
            "kappa_W_mK": [list(row) for row in self.kappa],
            "kappa_average_W_mK": list(self.kappa_trace_average),
            "kernel": self.kernel,
            "seconds_by_part": dict(self.seconds_by_part),
        }
