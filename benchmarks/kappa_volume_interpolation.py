"""Is κ(V) smooth enough to interpolate between a few volumes? (``kappa --temperature-volume``)

Computes κ at ``--ratios`` × the static volume (each cell scaled and relaxed there with the space
group kept, as ``latdyn kappa --temperature-volume`` does, same supercells and settings), then
the error of interpolating ln κ linearly between neighbours and quadratically through three
points at the volumes left out, and d ln κ / d ln V.

    python benchmarks/kappa_volume_interpolation.py MgO.vasp --supercell -2 2 2 2 -2 2 2 2 -2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
from ase.io import read

from latdyn.anharmonic.specs import FC2Spec, FC3Spec
from latdyn.kappa import KappaSettings
from latdyn.qha.volumes import relax_at_volume, scaled_cell
from latdyn.settings import ExecutionSettings, model_settings
from latdyn.structure.supercell import SupercellSpec
from latdyn.workflows.kappa import run_kappa_workflow
from latdyn.workflows.kappa_settings import KappaWorkflowSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("structure")
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--supercell", type=int, nargs="+", required=True,
                        help="FC2 and FC3 supercell, 3 or 9 integers")
    parser.add_argument("--ratios", type=float, nargs="+", default=[1.0, 1.008, 1.016, 1.024])
    parser.add_argument("--temperature", type=float, default=300.0)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    if len(args.ratios) < 4 or args.ratios[0] != 1.0:
        parser.error("--ratios: 1.0 first, then at least three more, ascending")

    supercell = SupercellSpec(matrix=args.supercell)
    settings = KappaWorkflowSettings(
        model=model_settings(args.model), execution=ExecutionSettings(progress=False),
        fc2=FC2Spec(supercell=supercell),
        fc3=FC3Spec(supercell=supercell, method="random", plus_minus=True),
        kappa=KappaSettings(temperatures=(args.temperature,)), fc_solver="auto")
    model = settings.model.load()[0]
    fixed = run_kappa_workflow(read(args.structure), settings, model)
    unit = fixed.structure.atoms
    pinned = dataclasses.replace(settings, relax=False)
    kappas, seconds = [float(fixed.kappa.kappa_trace_average[0])], [0.0]
    for ratio in args.ratios[1:]:
        start = time.perf_counter()
        cell = relax_at_volume(scaled_cell(unit, unit.get_volume() * ratio), model.calculator,
                               settings.relax_settings, shape=False).atoms
        kappas.append(float(run_kappa_workflow(cell, pinned, model).kappa
                            .kappa_trace_average[0]))
        seconds.append(time.perf_counter() - start)
    ratios, log_k = np.array(args.ratios), np.log(kappas)
    linear = {f"{ratios[i]:g}": float(np.exp(0.5 * (log_k[i - 1] + log_k[i + 1])) / kappas[i] - 1)
              for i in range(1, len(ratios) - 1)}
    keep = [0, 2, 3]
    quadratic = float(np.exp(np.polyval(np.polyfit(ratios[keep], log_k[keep], 2), ratios[1]))
                      / kappas[1] - 1)
    result = {"structure": args.structure, "model": args.model,
              "temperature_K": args.temperature, "volume_ratio": ratios.tolist(),
              "kappa_W_mK": kappas, "seconds": seconds,
              "linear_interpolation_rel_err": linear,
              f"quadratic_at_{ratios[1]:g}_rel_err": quadratic,
              "dlnkappa_dlnV": float(np.polyfit(np.log(ratios), log_k, 1)[0])}
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
