"""Bad input, corrupted caches, unsafe files and interrupted runs (issue #16), class by class.

Each table holds at least two members of one class; every member must give one clear line and
exit status 2 (or the documented status), never a wrong result with status 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.io import write

from latdyn.cli.main import main
from latdyn.errors import DataError, InputError, ModelError, StructureError

FAST = ["--model", "emt", "--no-relax", "--supercell", "2", "2", "2", "--mesh", "4", "4", "4",
        "--band-npoints", "3", "--no-progress"]


@pytest.fixture
def cu_poscar(tmp_path):
    path = tmp_path / "POSCAR"
    write(path, bulk("Cu", "fcc", a=3.61), format="vasp")
    return path


@pytest.fixture
def factories(tmp_path, monkeypatch):
    """A module ``r16models`` of model factories importable from tmp_path."""
    folder = tmp_path / "factories"
    folder.mkdir()
    (folder / "r16models.py").write_text(textwrap.dedent("""
        import numpy as np
        from ase.calculators.emt import EMT

        class Scaled(EMT):
            scale = 1.0
            def calculate(self, *args, **kwargs):
                super().calculate(*args, **kwargs)
                self.results["forces"] = self.results["forces"] * self.scale

        def plain():
            return Scaled()

        def declared():
            calc = Scaled()
            calc.latdyn_identity = "scaled-emt-1"
            return calc

        class NaNForces(EMT):
            def calculate(self, *args, **kwargs):
                super().calculate(*args, **kwargs)
                forces = self.results["forces"].copy()
                forces[0, 0] = np.nan
                self.results["forces"] = forces

        class InfForces(NaNForces):
            def calculate(self, *args, **kwargs):
                EMT.calculate(self, *args, **kwargs)
                self.results["forces"] = self.results["forces"] + np.inf

        def nan_forces():
            calc = NaNForces()
            calc.latdyn_identity = "nan"
            return calc

        def inf_forces():
            calc = InfForces()
            calc.latdyn_identity = "inf"
            return calc

        def raises():
            raise RuntimeError("no weights configured")
        """))
    (folder / "r16broken.py").write_text("def factory(:\n")
    monkeypatch.syspath_prepend(str(folder))
    return folder


def run(argv, capsys):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "no message on stderr"
    assert "error" in lines[0] and "internal error" not in lines[0], lines[0]
    return lines[0]


# ---- 1. cache identity and validation -------------------------------------------------------

def test_factory_without_identity_is_never_cached(tmp_path, cu_poscar, factories, capsys):
    for out in ("a", "b"):
        status, printed, err = run(["phonons", cu_poscar, *FAST, "--model", "r16models:plain",
                                    "--out", tmp_path / out], capsys)
        assert status == 0
        assert "(0 from cache)" in printed
        assert "declares no identity" in err
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["model"]["identity"] is None
    assert summary["model"]["force_cache"].startswith("not cached")


def test_declared_factory_identity_is_cached(tmp_path, cu_poscar, factories, capsys):
    for out, cached in (("a", 0), ("b", 2)):
        status, printed, _ = run(["phonons", cu_poscar, *FAST, "--model", "r16models:declared",
                                  "--out", tmp_path / out], capsys)
        assert status == 0 and f"({cached} from cache)" in printed
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert "declared=scaled-emt-1" in summary["model"]["identity"]


@pytest.mark.parametrize("contents", [(b"weights A", b"weights B"), (b"x" * 10, b"y" * 10)])
def test_checkpoint_identity_is_the_weights_content(tmp_path, contents):
    from latdyn.models.checkpoints import _loaded

    identities = []
    for folder, content in zip("ab", contents, strict=True):
        path = tmp_path / folder / "model.pt"
        path.parent.mkdir()
        path.write_bytes(content)
        identities.append(_loaded("mace", path, EMT(), "mace-torch",
                                  "float64", "cpu").identity)
    assert identities[0] != identities[1]


def _corrupt(entry: Path, kind: str) -> None:
    if kind == "zeros" or kind == "times3":
        with np.load(entry) as data:
            fields = {k: data[k] for k in data.files}
        fields["forces"] = 0 * fields["forces"] if kind == "zeros" else 3 * fields["forces"]
        with open(entry, "wb") as handle:
            np.savez(handle, **fields)
    elif kind == "bare-npy":
        with np.load(entry) as data:
            forces = data["forces"]
        with open(entry, "wb") as handle:
            np.save(handle, forces * 0)
    elif kind == "zero-byte":
        entry.write_bytes(b"")
    elif kind == "directory":
        entry.unlink()
        entry.mkdir()
    elif kind == "wrong-shape":
        with np.load(entry) as data:
            fields = {k: data[k] for k in data.files}
        fields["forces"] = fields["forces"][:1]
        fields["shape"] = np.array([1, 3])
        with open(entry, "wb") as handle:
            np.savez(handle, **fields)


@pytest.mark.parametrize("kind", ["zeros", "times3", "bare-npy", "zero-byte", "directory",
                                  "wrong-shape"])
def test_corrupted_cache_entries_are_recomputed(tmp_path, kind, caplog):
    from latdyn.forces import ASECalculatorBackend, ForceCache, evaluate_forces

    backend = ASECalculatorBackend(EMT(), "emt-test")
    cells = [bulk("Cu", "fcc", a=3.61).repeat(2) for _ in range(2)]
    cells[1].positions[0, 0] += 0.01
    cache = ForceCache(tmp_path / "cache")
    fresh = evaluate_forces(backend, cells, cache, progress=False).forces
    for entry in (tmp_path / "cache" / "forces").rglob("*.npz"):
        _corrupt(entry, kind)
    with caplog.at_level(logging.WARNING, logger="latdyn"):
        again = evaluate_forces(backend, cells, cache, progress=False)
    assert again.n_computed == 2 and again.n_cached == 0
    np.testing.assert_allclose(again.forces, fresh, atol=1e-12)
    warnings = [r for r in caplog.records if "failed validation" in r.getMessage()]
    assert len(warnings) == 1
    third = evaluate_forces(backend, cells, cache, progress=False)  # repaired entries are used
    assert third.n_cached == 2


@pytest.mark.parametrize("shift", [1e-9, 1e-12])
def test_keys_of_structures_below_rounding_differ(shift):
    from latdyn.forces.cache import structure_key

    plus, minus = bulk("Cu").repeat(2), bulk("Cu").repeat(2)
    plus.positions[0, 0] += shift
    minus.positions[0, 0] -= shift
    assert structure_key(plus, "m") != structure_key(minus, "m")


@pytest.mark.parametrize("value", ["1e-9", "1e-6", "nan", "0.6"])
def test_displacement_outside_bounds_is_refused(cu_poscar, tmp_path, value, capsys):
    status, _, err = run(["phonons", cu_poscar, *FAST, "--displacement", value, "--out",
                          tmp_path / "o"], capsys)
    assert status == 2 and "--displacement" in one_error_line(err)
    from latdyn.harmonic import DisplacementSettings

    if value != "nan":
        with pytest.raises(InputError, match="0.0001"):
            DisplacementSettings(distance=float(value))


@pytest.mark.parametrize("factory", ["nan_forces", "inf_forces"])
def test_non_finite_forces_stop_with_the_supercell_named(tmp_path, cu_poscar, factories,
                                                         factory, capsys):
    cache = tmp_path / "cache"
    status, _, err = run(["phonons", cu_poscar, *FAST, "--model", f"r16models:{factory}",
                          "--out", tmp_path / "o", "--cache-dir", cache], capsys)
    line = one_error_line(err)
    assert status == 2 and "non-finite forces" in line and "number 1 of" in line
    assert not list(cache.rglob("*.npz"))
    assert not (tmp_path / "o").exists()


# ---- 2. inputs that are not what the user gave ---------------------------------------------

CIF = """data_x
_cell_length_a 3.7
_cell_length_b 3.7
_cell_length_c 3.7
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
{sites}
Cu2 Cu 0.5 0.5 0 1
Cu3 Cu 0.5 0 0.5 1
Cu4 Cu 0 0.5 0.5 1
"""

POSCAR_HEAD = "Cu\n1.0\n3.6 0 0\n0 3.6 0\n0 0 3.6\nCu\n{count}\nDirect\n"


@pytest.mark.parametrize("name, text, needle", [
    ("mixed.cif", CIF.format(sites="Cu1 Cu 0 0 0 0.5\nAu1 Au 0 0 0 0.5"), "Cu1 has occupancy 0.5"),
    ("vacancy.cif", CIF.format(sites="Cu1 Cu 0 0 0 0.9"), "Cu1 has occupancy 0.9"),
    ("POSCAR_extra", POSCAR_HEAD.format(count=1) + "0 0 0\n0.5 0.5 0.5\n", "1 = 1 atoms but 2"),
    ("POSCAR_missing", POSCAR_HEAD.format(count=2) + "0 0 0\n", "2 = 2 atoms but 1"),
    ("POSCAR_thin", "Cu\n1.0\n0.3 0 0\n0 3.6 0\n0 0 3.6\nCu\n1\nDirect\n0 0 0\n",
     "own periodic image"),
    ("POSCAR_thin2", "Cu\n1.0\n0.4 0 0\n0 0.4 0\n0 0 3.6\nCu\n1\nDirect\n0 0 0\n",
     "own periodic image"),
])
def test_structures_that_are_not_what_was_given(tmp_path, name, text, needle, capsys):
    path = tmp_path / name
    path.write_text(text)
    from latdyn.structure import read_structure

    with pytest.raises(StructureError, match=needle):
        read_structure(path)
    status, _, err = run(["phonons", path, *FAST, "--out", tmp_path / "o"], capsys)
    assert status == 2 and needle in one_error_line(err)


@pytest.mark.parametrize("structures, index, count", [(1, 3, 1), (2, 5, 2), (2, -3, 2)])
def test_index_out_of_range_says_how_many(tmp_path, structures, index, count, capsys):
    path = tmp_path / "many.extxyz"
    write(path, [bulk("Cu", cubic=True), bulk("Al", cubic=True)][:structures])
    status, _, err = run(["phonons", path, *FAST, "--index", index, "--out", tmp_path / "o"],
                         capsys)
    assert status == 2 and f"holds {count} structure(s)" in one_error_line(err)


@pytest.mark.parametrize("argv", [
    ["phonons", "S", "--mesh", "nan"], ["phonons", "S", "--tmax", "nan"],
    ["phonons", "S", "--tstep", "nan"], ["phonons", "S", "--fmax", "nan"],
    ["phonons", "S", "--min-length", "inf"], ["phonons", "S", "--tmax=-inf"],
    ["kappa", "S", "--temperatures", "300", "nan"], ["kappa", "S", "--boundary-mfp", "inf"],
    ["kappa", "S", "--imaginary-tolerance", "nan"], ["conservation", "S", "--temperature", "nan"],
    ["pes-slice", "S", "--range", "nan", "0.1"], ["compare", "--dft", "D", "--tmin", "inf"],
])
def test_non_finite_float_options_are_refused(argv, capsys):
    status, _, err = run(argv, capsys)
    assert status == 2 and "finite" in err


@pytest.mark.parametrize("argv, option", [
    (["kappa", "S", "--n-random", "5"], "--n-random"),
    (["kappa", "S", "--fc3-method", "fd", "--n-random", "5"], "--n-random"),
    (["kappa", "S", "--fc2-n-random", "3"], "--fc2-n-random"),
    (["kappa", "S", "--fc3-max-random", "30"], "--fc3-max-random"),
    (["phonons", "S", "--no-relax", "--fmax", "0.01"], "--fmax"),
    (["kappa", "S", "--no-relax", "--optimizer", "BFGS"], "--optimizer"),
])
def test_options_the_method_ignores_are_refused(tmp_path, argv, option, capsys):
    status, _, err = run([*argv, "--model", "emt", "--out", tmp_path / "o"], capsys)
    line = one_error_line(err)
    assert status == 2 and option in line and "no effect" in line


@pytest.mark.parametrize("atoms, kind", [
    (Atoms("Cu2", positions=[[0, 0, 0], [2.3, 0, 0]], cell=[15, 15, 15], pbc=True), "molecule"),
    (fcc111("Cu", size=(1, 1, 3), vacuum=8.0, periodic=True), "slab"),
])
def test_vacuum_is_flagged(tmp_path, atoms, kind, capsys):
    path = tmp_path / "POSCAR"
    write(path, atoms, format="vasp")
    status, _, err = run(["phonons", path, "--model", "emt", "--no-relax", "--supercell", "1",
                          "1", "1", "--mesh", "2", "2", "2", "--band-npoints", "3", "--out",
                          tmp_path / "o", "--no-progress"], capsys)
    assert status == 0
    assert f"looks like a {kind}" in err
    vacuum = json.loads((tmp_path / "o" / "summary.json").read_text())["structure"]["vacuum"]
    assert vacuum["flagged"] and vacuum["gaps_A"]


def test_bulk_is_not_flagged():
    from latdyn.structure.io import vacuum_gaps

    assert vacuum_gaps(bulk("Cu")) == {} and vacuum_gaps(bulk("Si", cubic=True)) == {}


# ---- 3. nothing executes from a data file -----------------------------------------------------

@pytest.mark.parametrize("name", ["phonopy_params.yaml", "phono3py_disp.yaml"])
def test_yaml_with_python_tag_is_refused_and_runs_nothing(tmp_path, name, capsys):
    dft = tmp_path / "dft"
    dft.mkdir()
    marker = tmp_path / "MARKER"
    (dft / name).write_text(f'phonopy:\n  version: !!python/object/apply:os.system '
                            f'["touch {marker}"]\n')
    (dft / "FORCES_FC3").write_text("0 0 0\n")
    status, _, err = run(["compare", "--dft", dft, "--model", "emt", "--out", tmp_path / "o"],
                         capsys)
    assert status == 2 and "could run code" in one_error_line(err)
    assert not marker.exists()


@pytest.mark.parametrize("entry, needle", [
    ({"path": "../escaped.txt"}, "without '..'"),
    ({"path": "/tmp/latdyn-absolute.txt"}, "without '..'"),
    ({"path": "a/../../b.txt"}, "without '..'"),
    ({"sources": [{"url": "file:///etc/hostname", "md5": "0" * 32}]}, "give its sha256"),
    ({"sha256": "abc"}, "not a SHA-256"),
])
def test_manifest_entries_stay_in_the_data_folder_with_sha256(tmp_path, entry, needle, capsys):
    full = {"path": "x.txt", "sha256": "0" * 64, "sources": [{"url": "file:///etc/hostname"}],
            **entry}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": [full]}))
    status, _, err = run(["data", "fetch", "--data-dir", tmp_path / "data", "--manifest",
                          manifest], capsys)
    assert status == 2 and needle in one_error_line(err)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "data").exists()


def test_shipped_manifest_is_sha256_only():
    from latdyn.benchmark.fetch import check_entry, read_manifest

    manifest = read_manifest()
    for entry in manifest["files"]:
        check_entry(entry)
        assert all("md5" not in source for source in entry["sources"])


def test_symlink_escape_is_refused(tmp_path):
    from latdyn.benchmark.fetch import fetch

    data = tmp_path / "data"
    data.mkdir()
    (data / "link").symlink_to(tmp_path)
    with pytest.raises(DataError, match="outside the data folder"):
        fetch(data, {"files": [{"path": "link/x.txt", "sha256": "0" * 64,
                                "sources": [{"url": "file:///etc/hostname"}]}]})


# ---- 4. interrupted and impossible outputs -----------------------------------------------------

def test_interrupted_run_into_a_previous_folder_leaves_it_as_it_was(tmp_path, cu_poscar,
                                                                    monkeypatch, capsys):
    out = tmp_path / "run"
    assert run(["phonons", cu_poscar, *FAST, "--out", out], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import latdyn.workflows.output as output

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(output, "plot_band_dos", interrupted)
    args = [a if a != "4" else "5" for a in FAST]  # another mesh
    status, _, _ = run(["phonons", cu_poscar, *args, "--out", out], capsys)
    assert status == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_new_run_replaces_the_previous_outputs(tmp_path):
    from latdyn.files import staged_output, write_json

    out = tmp_path / "run"
    with staged_output(out) as stage:
        (stage / "old_only.png").write_text("old")
        write_json(stage / "summary.json", {"outputs": ["old_only.png", "summary.json"]})
    (out / "mine.txt").write_text("user file")
    with staged_output(out) as stage:
        (stage / "new.png").write_text("new")
        write_json(stage / "summary.json", {"outputs": ["new.png", "summary.json"]})
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt", "new.png", "summary.json"]


@pytest.mark.parametrize("option, value", [
    ("--out", "FILE"), ("--out", "FILE/sub"), ("--out", "/proc/latdyn-out"),
    ("--out", "/dev/null"), ("--cache-dir", "FILE"), ("--cache-dir", "/dev/null"),
    ("--cache-dir", "/proc/latdyn-cache"),
])
def test_unusable_out_and_cache_dir_are_refused_before_any_work(tmp_path, option, value,
                                                                capsys):
    (tmp_path / "FILE").write_text("x")
    value = value.replace("FILE", str(tmp_path / "FILE"))
    argv = ["phonons", tmp_path / "missing-POSCAR", "--model", "emt", "--out", tmp_path / "o"]
    status, _, err = run([*argv, option, value], capsys)
    line = one_error_line(err)
    assert status == 2 and option in line and "missing-POSCAR" not in line


@pytest.mark.parametrize("model, needle", [
    ("r16models:raises", "the factory raised RuntimeError: no weights configured"),
    ("r16broken:factory", "cannot import module 'r16broken' (SyntaxError"),
    ("r16absent:factory", "cannot import module 'r16absent'"),
    ("r16models:absent", "has no attribute 'absent'"),
])
def test_model_failures_are_one_line(tmp_path, cu_poscar, factories, model, needle, capsys):
    status, _, err = run(["phonons", cu_poscar, *FAST, "--model", model, "--out", tmp_path / "o"],
                         capsys)
    line = one_error_line(err)
    assert status == 2 and needle in line and model in line


@pytest.mark.parametrize("argv", [
    ["phonons", "no-such-POSCAR", "--model", "emt"],
    ["phonons", "no-such-POSCAR", "--model", "no-such-model"],
    ["phonons", "POSCAR", "--model", "emt", "--displacement", "1e-9"],
])
def test_debug_keeps_the_exit_status(tmp_path, cu_poscar, argv, capsys):
    argv = [str(cu_poscar) if a == "POSCAR" else a for a in argv]
    plain = run([*argv, "--out", tmp_path / "o"], capsys)[0]
    debug, _, err = run([*argv, "--out", tmp_path / "o", "--debug"], capsys)
    assert plain == debug == 2
    assert "matplotlib.font_manager" not in err


# ---- 5. crashes in dependencies reached through our options ---------------------------------

@pytest.mark.parametrize("value", ["2", "nan", "0", "-1", "0.5"])
def test_symprec_is_bounded(tmp_path, cu_poscar, value, capsys):
    status, _, err = run(["phonons", cu_poscar, *FAST, "--symprec", value, "--out",
                          tmp_path / "o"], capsys)
    assert status == 2 and "--symprec" in err
    from latdyn.structure.symmetry import get_symmetry

    if value != "nan":
        with pytest.raises(InputError, match="symprec"):
            get_symmetry(bulk("Cu"), float(value))


@pytest.mark.parametrize("mesh", [["1000", "1000", "1000"], ["100000"]])
def test_mesh_beyond_memory_is_refused_with_the_estimate(tmp_path, cu_poscar, mesh, capsys):
    argv = [a for a in FAST]
    i = argv.index("--mesh")
    del argv[i:i + 4]
    status, _, err = run(["phonons", cu_poscar, *argv, "--mesh", *mesh, "--out", tmp_path / "o"],
                         capsys)
    line = one_error_line(err)
    assert status == 2 and "GB" in line and "q-points" in line
    assert not (tmp_path / "o").exists()


def test_kappa_mesh_beyond_memory_is_refused():
    from latdyn.bounds import check_mesh_memory
    from latdyn.kappa.gate import kappa_mesh_bytes

    with pytest.raises(InputError, match="GB"):
        check_mesh_memory((400, 400, 400), kappa_mesh_bytes((400, 400, 400), 6), "κ")
    check_mesh_memory((11, 11, 11), kappa_mesh_bytes((11, 11, 11), 6), "κ")


# ---- 6. quiet, honest output ----------------------------------------------------------------

@pytest.mark.parametrize("tty, flags, shown", [
    (False, {}, False), (True, {}, True), (False, {"force_progress": True}, True),
    (True, {"no_progress": True}, False),
])
def test_progress_bars_only_on_a_terminal(monkeypatch, tty, flags, shown):
    from latdyn.cli.main import resolve_progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty, raising=False)
    args = argparse.Namespace(**{"no_progress": False, "force_progress": False, **flags})
    resolve_progress(args)
    assert args.no_progress is (not shown)


def test_redirected_run_has_no_progress_bar(tmp_path, cu_poscar, capsys):
    argv = [a for a in FAST if a != "--no-progress"]
    status, _, err = run(["phonons", cu_poscar, *argv, "--out", tmp_path / "o"], capsys)
    assert status == 0 and "\r" not in err and "it/s" not in err and "cell/s" not in err


@pytest.mark.parametrize("debug", [False, True])
def test_third_party_warnings_go_to_the_log(tmp_path, debug, capsys):
    import warnings

    from latdyn.cli.main import configure_logging

    log = tmp_path / "latdyn.log"
    configure_logging(debug, log)
    try:
        warnings.warn("seekpath edge case", UserWarning, stacklevel=1)
        logging.getLogger("matplotlib.font_manager").debug("findfont: scoring")
        logging.getLogger("latdyn.test").warning("latdyn says")
        logging.getLogger("phonopy").debug("phonopy debug")
    finally:
        logging.shutdown()
        configure_logging(False, None)
    err = capsys.readouterr().err
    assert "latdyn says" in err and "findfont" not in err
    assert ("seekpath edge case" in err) is debug
    assert ("phonopy debug" in err) is debug
    logged = log.read_text()
    assert "seekpath edge case" in logged and ("latdyn says" in logged) is debug


def _screen(tmp_path, structures, out, capsys):
    path = tmp_path / "in.extxyz"
    write(path, structures)
    return run(["screen", path, "--task", "phonons", "--model", "emt", "--no-relax", "--supercell",
                "2", "2", "2", "--mesh", "4", "4", "4", "--out", tmp_path / out, "--no-progress"],
               capsys)


@pytest.mark.parametrize("structures", [[bulk("Si"), bulk("Ge")], [bulk("Mg")]])
def test_screen_exits_3_when_every_material_failed(tmp_path, structures, capsys):
    status, _, err = _screen(tmp_path, structures, "s", capsys)
    assert status == 3 and "no material succeeded" in err


def test_screen_keys_records_by_content(tmp_path, capsys):
    assert _screen(tmp_path, [bulk("Cu"), bulk("Al")], "s", capsys)[0] == 0
    status, printed, _ = _screen(tmp_path, [bulk("Ni"), bulk("Al")], "s", capsys)
    assert status == 0 and "1 computed now, 1 already finished" in printed
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert {row["formula"] for row in summary["ranking"]["lowest"]} == {"Ni", "Al"}


def test_summary_records_command_line_and_threads(tmp_path, cu_poscar, capsys):
    assert run(["phonons", cu_poscar, *FAST, "--out", tmp_path / "o"], capsys)[0] == 0
    record = json.loads((tmp_path / "o" / "summary.json").read_text())["run"]
    assert record["command_line"][:2] == ["latdyn", "phonons"]
    assert record["threads"]["cpu_count"] >= 1


# ---- #15: a rerun of the same input reuses its relaxation and forces ------------------------

class CountingEMT(EMT):
    calls = 0

    def calculate(self, *args, **kwargs):
        CountingEMT.calls += 1
        super().calculate(*args, **kwargs)


def test_rerun_reuses_the_relaxation_exactly(tmp_path):
    from latdyn.forces import ForceCache
    from latdyn.relax import RelaxSettings, run_relax

    atoms = bulk("Cu", "fcc", a=3.7)
    settings = RelaxSettings(fmax=1e-3)
    cache = ForceCache(tmp_path / "cache")
    first = run_relax(atoms, CountingEMT(), settings, cache=cache, identity="emt")
    calls = CountingEMT.calls
    second = run_relax(atoms, CountingEMT(), settings, cache=cache, identity="emt")
    assert CountingEMT.calls == calls
    assert np.array_equal(first.atoms.positions, second.atoms.positions)
    assert np.array_equal(np.array(first.atoms.cell), np.array(second.atoms.cell))
    third = run_relax(atoms, CountingEMT(), settings, cache=cache, identity="other model")
    assert CountingEMT.calls > calls and third.converged


def test_non_finite_relaxation_is_a_model_error(factories):
    import r16models

    from latdyn.relax import RelaxSettings, run_relax

    with pytest.raises(ModelError, match="non-finite"):
        run_relax(bulk("Cu", "fcc", a=3.7), r16models.NaNForces(), RelaxSettings(fmax=1e-3))
