"""The κSRME metrics of Póta, Ahlawat, Csányi and Simoncelli (arXiv 2408.00755).

Pure NumPy, written after the definitions used by Matbench Discovery
(``matbench_discovery/metrics/phonons.py`` and ``phonons/thermal_conductivity.py``):

- κ is the trace average ``(κ_xx + κ_yy + κ_zz) / 3`` of the total (particle + coherence)
  conductivity, W/(m K);
- ``SRD = 2 (κ_MLIP - κ_DFT) / (κ_MLIP + κ_DFT)`` at the first temperature (300 K); a missing
  MLIP κ gives ``SRD = -2``; ``SRE = |SRD|``;
- ``SRME = 2 Σ_modes |κ_MLIP,mode - κ_DFT,mode| / N_q / (κ_MLIP + κ_DFT)``, with mode-resolved
  κ (trace averaged, already multiplied by the q-point weights) compared on the same
  irreducible q-points and ``N_q`` the sum of the weights (the number of mesh points);
- a failed compound (imaginary modes, a changed space group, any error) scores ``SRME = 2``.

Mode-resolved total κ follows Matbench Discovery's ``calc_mode_kappa_tot``, with which the
DFT reference was made: the coherence κ of a band pair ``(s, s')`` is shared as
``2 κ_C[s, s'] C_s / (C_s + C_s')`` and summed over the first band index ``s``, so mode ``s'``
receives ``Σ_s 2 κ_C[s, s'] C_s / (C_s + C_s')``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Score of a failed compound (the largest possible SRE and SRME).
FAILURE_SCORE = 2.0


def kappa_average(kappa: np.ndarray) -> np.ndarray:
    """Trace average of κ in Voigt order: the mean of the first three of the last axis."""
    return np.asarray(kappa, dtype=float)[..., :3].mean(axis=-1)


def kappa_srd(kappa_pred: float, kappa_true: float) -> float:
    """Symmetric relative difference ``2 (pred - true) / (pred + true)``; ``-2`` if ``pred`` is
    missing (NaN or ``None``)."""
    if kappa_pred is None or not np.isfinite(kappa_pred):
        return -FAILURE_SCORE
    total = kappa_pred + kappa_true
    if total == 0:
        return 0.0
    return float(2.0 * (kappa_pred - kappa_true) / total)


def kappa_sre(kappa_pred: float, kappa_true: float) -> float:
    """Symmetric relative error ``|SRD|``."""
    return abs(kappa_srd(kappa_pred, kappa_true))


def kappa_srme(
    mode_kappa_pred: np.ndarray,
    mode_kappa_true: np.ndarray,
    weights: np.ndarray,
    kappa_pred: float,
    kappa_true: float,
) -> float:
    """Symmetric relative mean error of mode-resolved κ at one temperature.

    Parameters
    ----------
    mode_kappa_pred, mode_kappa_true
        Trace-averaged mode κ times the q-point weights, ``(nq, nb)`` W/(m K), on the same
        irreducible q-points.
    weights
        Multiplicities of the q-points of the prediction, ``(nq,)``.
    kappa_pred, kappa_true
        Trace-averaged total κ, W/(m K).

    Returns
    -------
    float
        Between 0 and 2; 2 when the prediction holds NaN.
    """
    pred = np.asarray(mode_kappa_pred, dtype=float)
    true = np.asarray(mode_kappa_true, dtype=float)
    if pred.shape != true.shape:
        raise ValueError(f"mode κ shapes differ: prediction {pred.shape}, reference {true.shape}")
    if (not np.isfinite(kappa_pred) or np.any(~np.isfinite(pred))
            or np.any(~np.isfinite(np.asarray(weights, dtype=float)))):
        return FAILURE_SCORE
    denominator = kappa_pred + kappa_true
    if denominator == 0:
        return 0.0
    microscopic = np.abs(pred - true).sum() / np.asarray(weights, dtype=float).sum()
    return float(2.0 * microscopic / denominator)


@dataclass(frozen=True)
class CompoundScore:
    """κSRME scores of one compound (first temperature, 300 K).

    Attributes
    ----------
    mp_id, name
        Identifier and formula.
    space_group
        Space-group number of the reference structure.
    kappa_dft, kappa_mlip
        Trace-averaged total κ, W/(m K); ``kappa_mlip`` is NaN when it was not computed.
    srd, sre, srme
        The metrics (see the module docstring).
    failed
        The calculation failed or broke the symmetry (``srme = 2``).
    imaginary
        The MLIP's harmonic phonons had imaginary modes (``srme = 2``).
    reason
        Why it failed or scored 2, empty otherwise.
    """

    mp_id: str
    name: str
    space_group: int
    kappa_dft: float
    kappa_mlip: float
    srd: float
    sre: float
    srme: float
    failed: bool
    imaginary: bool
    reason: str


def score_compound(
    mp_id: str,
    name: str,
    space_group: int,
    kappa_true: float,
    mode_kappa_true: np.ndarray,
    prediction: dict | None,
    failure_reason: str = "",
) -> CompoundScore:
    """Score one compound.

    Parameters
    ----------
    kappa_true, mode_kappa_true
        DFT trace-averaged κ and mode κ ``(nq, nb)`` at the first temperature.
    prediction
        ``None`` for a failed calculation, else a mapping with ``kappa`` (trace-averaged κ at
        the first temperature, NaN when not computed), ``mode_kappa`` (``(nq, nb)`` or
        ``None``), ``weights``, ``imaginary`` (bool) and ``symmetry_changed`` (bool).
    failure_reason
        Why the calculation failed (recorded).
    """
    common = {"mp_id": mp_id, "name": name, "space_group": int(space_group),
              "kappa_dft": float(kappa_true)}
    if prediction is None:
        return CompoundScore(**common, kappa_mlip=float("nan"), srd=-FAILURE_SCORE,
                             sre=FAILURE_SCORE, srme=FAILURE_SCORE, failed=True,
                             imaginary=False, reason=failure_reason or "failed")
    kappa = prediction.get("kappa")
    kappa = float("nan") if kappa is None else float(kappa)
    srd = kappa_srd(kappa, kappa_true)
    imaginary = bool(prediction.get("imaginary", False))
    symmetry_changed = bool(prediction.get("symmetry_changed", False))
    reasons = []
    if imaginary:
        reasons.append("imaginary modes")
    if symmetry_changed:
        reasons.append("space group changed")
    if reasons or prediction.get("mode_kappa") is None:
        srme = FAILURE_SCORE
        reasons = reasons or ["no mode-resolved κ"]
    else:
        srme = kappa_srme(prediction["mode_kappa"], mode_kappa_true, prediction["weights"],
                          kappa, kappa_true)
    return CompoundScore(**common, kappa_mlip=kappa, srd=srd, sre=abs(srd), srme=srme,
                         failed=symmetry_changed, imaginary=imaginary,
                         reason="; ".join(reasons))


@dataclass(frozen=True)
class BenchmarkMetrics:
    """Aggregate κSRME metrics over a set of compounds.

    Attributes
    ----------
    n_compounds
        Compounds scored.
    mean_srme, mean_sre
        Means over the set (failures count as 2).
    median_srme
        Median SRME.
    failure_rate
        Share of compounds whose calculation failed or broke the symmetry.
    imaginary_rate
        Share of compounds with imaginary harmonic modes.
    mean_srd
        Mean signed SRD (failures count as -2): below 0, κ is underestimated on average.
    censored_rate
        Share of compounds scored SRME = 2 for any reason (failed, imaginary modes, broken
        symmetry, no mode κ): the leaderboard's κ failure rate.
    """

    n_compounds: int
    mean_srme: float
    mean_sre: float
    median_srme: float
    failure_rate: float
    imaginary_rate: float
    mean_srd: float
    censored_rate: float


def aggregate(scores: list[CompoundScore]) -> BenchmarkMetrics:
    """Means and rates over ``scores`` (NaN for an empty list)."""
    if not scores:
        nan = float("nan")
        return BenchmarkMetrics(0, nan, nan, nan, nan, nan, nan, nan)
    srme = np.array([s.srme for s in scores])
    return BenchmarkMetrics(
        n_compounds=len(scores),
        mean_srme=float(srme.mean()),
        mean_sre=float(np.mean([s.sre for s in scores])),
        median_srme=float(np.median(srme)),
        failure_rate=float(np.mean([s.failed for s in scores])),
        imaginary_rate=float(np.mean([s.imaginary for s in scores])),
        mean_srd=float(np.mean([s.srd for s in scores])),
        censored_rate=float(np.mean([bool(s.reason) for s in scores])),
    )


def aggregate_by_type(scores: list[CompoundScore],
                      types: dict[int, str]) -> dict[str, BenchmarkMetrics]:
    """:func:`aggregate` per structure type (``types``: space-group number -> name), in the
    order of ``types``; types without compounds are left out."""
    grouped = {name: [s for s in scores if s.space_group == number]
               for number, name in types.items()}
    return {name: aggregate(group) for name, group in grouped.items() if group}
