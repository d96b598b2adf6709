"""κ with the grid points shared among Dask workers equals the single-process κ (latdyn's
collision kernel in the workers; phono3py's kernel for the cross-check)."""

from __future__ import annotations

import dataclasses

import pytest
from ase.build import bulk
from numpy.testing import assert_allclose

from latdyn.anharmonic.specs import FC2Spec, FC3Spec
from latdyn.errors import InputError
from latdyn.kappa import KappaSettings, run_kappa
from latdyn.kappa.distributed import irreducible_grid_points, run_kappa_distributed
from latdyn.parallel import local_client
from latdyn.settings import ExecutionSettings
from latdyn.structure.supercell import SupercellSpec
from latdyn.workflows.kappa import KappaWorkflowSettings, run_kappa_workflow

pytest.importorskip("distributed", reason="dask.distributed is not installed (latdyn[dask])")

CONVENTIONAL_2X2X2 = ((-2, 2, 2), (2, -2, 2), (2, 2, -2))


@pytest.fixture(scope="module")
def cu_ph3(tmp_path_factory):
    settings = KappaWorkflowSettings(
        model="emt", relax=False, fc2=FC2Spec(supercell=SupercellSpec((3, 3, 3))),
        fc3=FC3Spec(supercell=SupercellSpec(CONVENTIONAL_2X2X2)),
        kappa=KappaSettings(mesh=(6, 6, 6), method="rta"),
        execution=ExecutionSettings(cache_dir=str(tmp_path_factory.mktemp("cache")),
                                    progress=False))
    return run_kappa_workflow(bulk("Cu", "fcc", a=3.61), settings).displacements.phono3py


@pytest.fixture(scope="module")
def client():
    client = local_client(workers=2, threads=1)
    yield client
    client.close()
    client.cluster.close()


@pytest.mark.parametrize("method", ["rta", "wigner"])
def test_distributed_kappa_is_the_single_process_kappa(cu_ph3, client, method):
    settings = KappaSettings(mesh=(6, 6, 6), temperatures=(300.0, 700.0), method=method)
    assert settings.linewidth_kernel == "latdyn"
    single = run_kappa(cu_ph3, settings)
    shared = run_kappa_distributed(cu_ph3, settings, client, n_chunks=3)
    phono3py = run_kappa(cu_ph3, dataclasses.replace(settings, kernel="phono3py"))
    assert_allclose(shared.kappa, phono3py.kappa, rtol=1e-6)
    assert len(irreducible_grid_points(cu_ph3)) == len(single.qpoints) > 3
    assert_allclose(shared.gamma, single.gamma, rtol=1e-12, atol=1e-14)
    assert_allclose(shared.kappa, single.kappa, rtol=1e-12)
    assert_allclose(shared.mode_kappa_total, single.mode_kappa_total, rtol=1e-10, atol=1e-14)
    assert shared.kappa_trace_average[0] > shared.kappa_trace_average[1] > 0


def test_lbte_is_refused(cu_ph3, client):
    with pytest.raises(InputError, match="LBTE"):
        run_kappa_distributed(cu_ph3, KappaSettings(mesh=(6, 6, 6), method="lbte"), client)


def test_cli_kappa_workers_equal_one_process(tmp_path, capsys):
    import json

    from ase.io import write

    from latdyn.cli.main import main

    poscar = tmp_path / "POSCAR"
    write(poscar, bulk("Cu", "fcc", a=3.61), format="vasp")
    common = [str(poscar), "--model", "emt", "--no-relax", "--fc2-supercell", "2", "2", "2",
              "--fc3-supercell", *[str(n) for row in CONVENTIONAL_2X2X2 for n in row],
              "--mesh", "5", "5", "5", "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    wigner = [*common, "--method", "wigner"]
    assert main(["kappa", *wigner, "--kappa-kernel", "phono3py", "--out",
                 str(tmp_path / "one")]) == 0
    assert main(["kappa", *wigner, "--kappa-workers", "2", "--out", str(tmp_path / "two")]) == 0
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert two["settings"]["parallel"]["workers"] == 2
    assert one["settings"]["kappa"]["kernel"] == one["kappa"]["kernel"] == "phono3py"
    assert two["settings"]["kappa"]["kernel"] is None and two["kappa"]["kernel"] == "latdyn"
    assert {"collision", "isotope", "assembly"} <= set(one["kappa"]["seconds_by_part"])
    assert two["displacements"]["fc3"]["n_computed"] == 0  # forces from the first run's cache
    assert_allclose(two["kappa"]["kappa_trace_average"], one["kappa"]["kappa_trace_average"],
                    rtol=1e-6)
    capsys.readouterr()
    assert main(["kappa", *common, "--method", "lbte", "--kappa-workers", "2",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "LBTE cannot be split" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
