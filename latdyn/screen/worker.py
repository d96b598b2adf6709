"""The per-material child process: ``python -m latdyn.screen.worker JOB.pkl RESULT.json``.

Reads a pickled :class:`~latdyn.screen.tasks.MaterialJob`, computes it and writes its record as
JSON (atomically). Running each material in its own process lets the executor kill it when it
exceeds the time limit and frees its memory when it ends. The thread limits come from the
environment the executor sets (``OMP_NUM_THREADS`` and friends); torch is limited as well once a
torch model is loaded.
"""

from __future__ import annotations

import pickle
import sys


def main(argv: list[str]) -> int:
    job_path, result_path = argv
    from latdyn.files import write_json
    from latdyn.screen.tasks import run_job

    with open(job_path, "rb") as handle:
        job = pickle.load(handle)
    write_json(result_path, run_job(job))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
