"""`latdyn screen`: one record per material, failures and timeouts recorded, kill -9 and resume
without recomputation, Dask (LocalCluster on loopback) giving the pool's numbers, bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from latdyn.cli.main import main
from latdyn.screen import discover_materials
from latdyn.settings import ModelSettings

TESTS = Path(__file__).resolve().parent

FAST = ["--task", "phonons", "--no-relax", "--supercell", "2", "2", "2", "--mesh", "4", "4", "4",
        "--band-npoints", "5", "--no-progress"]
HANGING = "helpers_screen:emt_hanging_on_pt"


@pytest.fixture(autouse=True)
def helpers_importable(monkeypatch):
    """The per-material child processes import the test models from this folder."""
    monkeypatch.syspath_prepend(str(TESTS))
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(TESTS) + (os.pathsep + path if path else ""))


def crystal(symbol, structure="fcc", a=None, name=None, **info):
    atoms = bulk(symbol, structure, a=a) if a else bulk(symbol, structure)
    atoms.info["name"] = name or f"{symbol}-{structure}"
    atoms.info.update(info)
    return atoms


def overlapping():
    atoms = bulk("Cu", "fcc", a=3.61).repeat((2, 1, 1))
    atoms.positions[1] = atoms.positions[0] + [0.1, 0.0, 0.0]
    atoms.info["name"] = "overlap"
    return atoms


def store_rows(out: Path, query: str) -> list:
    with sqlite3.connect(out / "screen.sqlite") as connection:
        return connection.execute(query).fetchall()


def records(out: Path) -> dict:
    rows = store_rows(out, "SELECT record FROM materials")
    return {r["id"]: r for r in (json.loads(row[0]) for row in rows)}


def attempts(out: Path) -> dict:
    return dict(store_rows(out, "SELECT material_id, COUNT(*) FROM attempts GROUP BY 1"))


@pytest.fixture
def good_set(tmp_path):
    path = tmp_path / "good.xyz"
    write(path, [crystal("Cu", a=3.61), crystal("Al", a=4.05, fc2_supercell="3 3 3"),
                 crystal("Ni", "hcp", a=2.49, name=None)], format="extxyz")
    return path


def test_pool_records_failures_timeout_and_outputs(tmp_path, good_set):
    """Pool run: done, failed (unsupported element, overlapping atoms, crashed process) and
    timeout records."""
    structures = tmp_path / "mixed.xyz"
    write(structures, [crystal("Pt", a=3.92), *discover_atoms(good_set),
                       crystal("Fe", "bcc", a=2.87), overlapping(), crystal("Pd", a=3.89)],
          format="extxyz")
    out = tmp_path / "pool"
    assert main(["screen", str(structures), "--model", HANGING, "--workers", "2",
                 "--timeout", "20", "--out", str(out), "--no-cache", *FAST]) == 0
    by_id = records(out)
    assert {k: v["status"] for k, v in by_id.items()} == {
        "Pt-fcc": "timeout", "Cu-fcc": "done", "Al-fcc": "done", "Ni-hcp": "done",
        "Fe-bcc": "failed", "overlap": "failed", "Pd-fcc": "failed"}
    assert "time limit" in by_id["Pt-fcc"]["error"]
    assert "worker process exited with status 3" in by_id["Pd-fcc"]["error"]
    assert "does not support element(s) Fe" in by_id["Fe-bcc"]["error"]
    assert "StructureError" in by_id["overlap"]["error"]
    for material_id in ("Cu-fcc", "Al-fcc", "Ni-hcp"):
        record = by_id[material_id]
        assert record["error"] is None and record["seconds"] > 0
        assert record["timings"]["forces"] >= 0
        assert record["flags"] == {"imaginary_modes": False, "symmetry_changed": False,
                                   "relax_converged": None}
        assert 0 < record["phonons"]["acoustic_mean_frequency_THz"] < 10
        assert len(record["phonons"]["gamma_frequencies_THz"]) == 3 * record["n_atoms"]
    assert by_id["Al-fcc"]["supercell"] == (3 * np.eye(3)).tolist()  # from the structure's info
    assert by_id["Al-fcc"]["overrides"] == {"fc2_supercell": [3, 3, 3]}
    assert by_id["Cu-fcc"]["supercell"] == (2 * np.eye(3)).tolist()
    assert attempts(out) == dict.fromkeys(by_id, 1)

    with open(out / "ranking.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [row["id"] for row in table[:3]] == sorted(
        ["Cu-fcc", "Al-fcc", "Ni-hcp"],
        key=lambda k: by_id[k]["phonons"]["acoustic_mean_frequency_THz"])
    assert [row["rank"] for row in table] == ["1", "2", "3", "", "", "", ""]
    for name in ("acoustic_frequency_distribution.png", "acoustic_frequency_vs_mass.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": 3, "failed": 3, "timeout": 1, "computed": 7,
                                 "skipped": 0, "total": 7}
    assert summary["model"]["name"] == HANGING and summary["versions"]["ase"]
    assert summary["inputs"]["structures_sha256"]

    # the same records through Dask on a LocalCluster (loopback) as through the pool
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, host="127.0.0.1",
                      protocol="tcp", dashboard_address=None) as cluster:
        dask_out = tmp_path / "dask"
        assert main(["screen", str(good_set), "--model", HANGING, "--out", str(dask_out),
                     "--scheduler", cluster.scheduler_address, "--no-cache", *FAST]) == 0
    dask_records = records(dask_out)
    assert set(dask_records) == {"Cu-fcc", "Al-fcc", "Ni-hcp"}
    for material_id, record in dask_records.items():
        pool = by_id[material_id]
        assert record["status"] == "done" and record["supercell"] == pool["supercell"]
        for key in ("gamma_frequencies_THz", "acoustic_mean_frequency_THz",
                    "lowest_frequency_THz"):
            np.testing.assert_allclose(record["phonons"][key], pool["phonons"][key],
                                       rtol=0, atol=1e-9)
    assert json.loads((dask_out / "summary.json").read_text())["executor"].startswith("tcp://")



def test_kappa_task_stores_kappa_per_temperature(tmp_path):
    structures = tmp_path / "set.xyz"
    write(structures, [crystal("Au", a=4.08), crystal("Cu", a=3.61)], format="extxyz")
    out = tmp_path / "kappa"
    assert main(["screen", str(structures), "--model", "emt", "--task", "kappa", "--no-relax",
                 "--supercell", "2", "2", "2", "--mesh", "5", "5", "5", "--temperatures", "100",
                 "300", "--workers", "2", "--out", str(out), "--no-progress"]) == 0
    rows = store_rows(out, "SELECT material_id, temperature_K, xx, yy, zz, yz, average FROM kappa "
                      "ORDER BY material_id, temperature_K")
    assert [r[:2] for r in rows] == [("Au-fcc", 100.0), ("Au-fcc", 300.0), ("Cu-fcc", 100.0),
                                     ("Cu-fcc", 300.0)]
    for _, _, xx, yy, zz, yz, average in rows:  # cubic: isotropic
        assert xx > 0 and np.isclose(xx, yy) and np.isclose(xx, zz) and abs(yz) < 1e-6 * xx
        assert np.isclose(average, xx)
    assert rows[1][-1] < rows[0][-1]  # κ falls with temperature
    with open(out / "ranking.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [row["id"] for row in table] == ["Au-fcc", "Cu-fcc"]  # heavier, softer Au lower
    assert float(table[0]["kappa_W_mK_at_300K"]) == pytest.approx(rows[1][-1])
    for name in ("kappa_distribution.png", "kappa_vs_mass.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    record = records(out)["Cu-fcc"]
    assert record["gate"] == {"passed": True, "reasons": []}
    assert record["flags"]["imaginary_modes"] is False


def discover_atoms(path):
    return [m.atoms for m in discover_materials(path)]


def wait_for_done(out: Path, proc: subprocess.Popen, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the screen ended before it could be killed"
        try:
            if store_rows(out, "SELECT COUNT(*) FROM materials WHERE status = 'done'")[0][0]:
                return
        except sqlite3.OperationalError:  # not created yet
            pass
        time.sleep(0.05)
    raise AssertionError("no material finished in time")


def test_kill_9_then_resume_computes_each_material_once(tmp_path):
    structures = tmp_path / "set.xyz"
    write(structures, [crystal("Cu", a=3.61), crystal("Ag", a=4.09), crystal("Fe", "bcc", a=2.87),
                       crystal("Au", a=4.08), crystal("Pd", a=3.89)], format="extxyz")
    out = tmp_path / "screen"
    args = ["screen", str(structures), "--model", "emt", "--workers", "1", "--out", str(out),
            *FAST]
    proc = subprocess.Popen([sys.executable, "-m", "latdyn.cli.main", *args],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_done(out, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the screen and its material process
        proc.wait()
    before = dict(((i, (s, f)) for i, s, f in store_rows(
        out, "SELECT id, started_at, finished_at FROM materials")))
    assert 1 <= len(before) < 5
    assert not (out / "summary.json").exists()

    assert main(args) == 0
    by_id = records(out)
    assert {k: v["status"] for k, v in by_id.items()} == {
        "Cu-fcc": "done", "Ag-fcc": "done", "Fe-bcc": "failed", "Au-fcc": "done",
        "Pd-fcc": "done"}
    assert attempts(out) == dict.fromkeys(by_id, 1)  # nothing finished was computed twice
    for material_id, (started, finished) in before.items():
        assert (by_id[material_id]["started_at"], by_id[material_id]["finished_at"]) == (
            started, finished)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["skipped"] == len(before)
    assert summary["counts"]["computed"] == 5 - len(before)

    # a plain re-run computes nothing; --retry-failed recomputes the failure only
    assert main(args) == 0
    assert attempts(out) == dict.fromkeys(by_id, 1)
    assert main([*args, "--retry-failed"]) == 0
    assert attempts(out) == {**dict.fromkeys(by_id, 1), "Fe-bcc": 2}
    assert json.loads((out / "summary.json").read_text())["counts"]["computed"] == 1


def test_symmetrize_is_recorded_and_kept_apart_on_resume(tmp_path, capsys):
    """Space-group projection leaves EMT's phonons unchanged, is recorded per material and in
    the store's settings, and a store of another symmetrization is refused."""
    structures = tmp_path / "set.xyz"
    write(structures, [crystal("Cu", a=3.61)], format="extxyz")
    gamma = {}
    for mode in ("none", "spacegroup"):
        out = tmp_path / mode
        assert main(["screen", str(structures), "--model", "emt", "--symmetrize", mode,
                     "--out", str(out), *FAST]) == 0
        record = records(out)["Cu-fcc"]
        assert record["status"] == "done"
        assert record["symmetrization"]["symmetrize"] == mode
        gamma[mode] = np.array(record["phonons"]["gamma_frequencies_THz"])
        summary = json.loads((out / "summary.json").read_text())
        assert summary["settings"]["task_settings"]["model"]["symmetrize"] == mode
    # squared frequencies (THz²): the acoustic ones at Γ are square roots of round-off
    np.testing.assert_allclose(np.sign(gamma["spacegroup"]) * gamma["spacegroup"] ** 2,
                               np.sign(gamma["none"]) * gamma["none"] ** 2, rtol=0, atol=1e-8)
    capsys.readouterr()
    out = tmp_path / "spacegroup"
    assert main(["screen", str(structures), "--model", "emt", "--out", str(out), *FAST]) == 2
    assert "other settings" in capsys.readouterr().err
    assert attempts(out) == {"Cu-fcc": 1}


def test_fingerprint_resolves_the_default_rotation_order():
    from latdyn.screen import ScreenSettings
    from latdyn.workflows.phonons import PhononWorkflowSettings

    def fingerprint(**symmetrization):
        settings = PhononWorkflowSettings(model=ModelSettings("emt", **symmetrization))
        return ScreenSettings(task="phonons", task_settings=settings).fingerprint()

    assert fingerprint(symmetrize="o3") == fingerprint(symmetrize="o3", rotations=3)
    assert fingerprint(symmetrize="o3") != fingerprint(symmetrize="o3", rotations=5)
    assert fingerprint(symmetrize="o3") != fingerprint(symmetrize="full")
    plain = fingerprint()
    assert (plain["model"]["symmetrize"], plain["model"]["rotations"]) == ("none", None)


def test_discovery_ids_overrides_and_unreadable_files(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    write(folder / "mp-30.cif", bulk("Cu", "fcc", a=3.61))
    write(folder / "POSCAR-Al", bulk("Al", "fcc", a=4.05), format="vasp")
    (folder / "broken.cif").write_text("not a cif\n")
    (folder / "notes.txt").write_text("ignored\n")
    materials = discover_materials(folder)
    assert [m.id for m in materials] == ["POSCAR-Al", "broken", "mp-30"]
    assert materials[1].atoms is None and "cannot read broken.cif" in materials[1].read_error
    assert materials[2].atoms.get_chemical_formula() == "Cu"

    xyz = tmp_path / "set.xyz"
    write(xyz, [crystal("Cu", name="x", q_mesh="4 4 4", fc3_supercell="2 2 2"),
                crystal("Ni", name="x"), bulk("Al", "fcc", a=4.05)], format="extxyz")
    atoms = bulk("Ag", "fcc", a=4.09)
    atoms.info["mp_id"] = "mp-124"
    write(xyz, atoms, format="extxyz", append=True)
    materials = discover_materials(xyz)
    assert [m.id for m in materials] == ["x", "x-2", "2", "mp-124"]
    assert materials[0].overrides == {"fc3_supercell": (2, 2, 2), "q_mesh": (4, 4, 4)}
    assert materials[3].source.endswith("set.xyz@3")


def test_folder_screen_records_unreadable_file(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    write(folder / "Cu.vasp", bulk("Cu", "fcc", a=3.61), format="vasp")
    (folder / "broken.cif").write_text("not a cif\n")
    out = tmp_path / "out"
    assert main(["screen", str(folder), "--model", "emt", "--out", str(out), *FAST]) == 0
    by_id = records(out)
    assert by_id["Cu"]["status"] == "done"
    assert by_id["broken"]["status"] == "failed" and "cannot read" in by_id["broken"]["error"]


@pytest.mark.parametrize("case", ["missing", "empty-folder", "model", "import-path",
                                  "other-settings", "rotations"])
def test_bad_input_writes_nothing(tmp_path, good_set, case, capsys):
    out = tmp_path / "out"
    structures, extra = good_set, []
    if case == "missing":
        structures = tmp_path / "nothing.xyz"
    elif case == "empty-folder":
        structures = tmp_path / "empty"
        structures.mkdir()
    elif case == "model":
        extra = ["--model", "no-such-model"]
    elif case == "import-path":
        extra = ["--model", "no_such_package.models:factory"]
    elif case == "rotations":
        extra = ["--symmetrize", "o3", "--rotations", "4"]
    else:
        from latdyn.screen.store import ScreenStore

        with ScreenStore(out / "screen.sqlite", "phonons", {"model": "emt", "other": 1}):
            pass
    before = sorted(p.name for p in out.iterdir()) if out.exists() else None
    assert main(["screen", str(structures), "--model", "emt", "--out", str(out), *FAST,
                 *extra]) == 2
    error = capsys.readouterr().err
    assert error.startswith("latdyn screen: error:") and error.count("\n") == 1
    assert (sorted(p.name for p in out.iterdir()) if out.exists() else None) == before
