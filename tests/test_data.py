"""``latdyn data fetch``: the manifest, checksum-verified downloads, the offline failure."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from latdyn.benchmark.fetch import DEFAULT_MANIFEST, fetch, file_digest, read_manifest
from latdyn.cli.main import main
from latdyn.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def test_manifest_matches_the_shared_data(data_dir):
    manifest = read_manifest()
    paths = {entry["path"] for entry in manifest["files"]}
    for required in ("ksrme/phononDB-PBE-structures.extxyz",
                     "ksrme/kappas_phononDB_PBE_noNAC.json.gz",
                     "dft/phonopy/Si/FORCE_SETS", "dft/phono3py/AlN-LDA/FORCES_FC3.xz"):
        assert required in paths
    for entry in manifest["files"]:
        assert entry["sources"] and all(s["url"].startswith("https://") for s in entry["sources"])
        local = data_dir / entry["path"]
        if local.exists():
            assert file_digest(local) == entry["sha256"], entry["path"]


def test_repository_holds_no_data_copies(data_dir):
    """reference_data/ holds the manifest, small tables latdyn produced and the notes on them
    (markdown), and tests/data/ excerpts; neither holds a copy of a shared file."""
    assert DEFAULT_MANIFEST == REPO / "reference_data" / "manifest.json"
    owned = sorted((REPO / "reference_data").iterdir())
    assert all(p.name == "manifest.json" or p.suffix in (".csv", ".md") for p in owned), owned
    assert all(p.stat().st_size < 64_000 for p in owned)
    excerpts = [p for p in (REPO / "tests" / "data").rglob("*") if p.is_file()]
    shared = {file_digest(p) for p in data_dir.rglob("*") if p.is_file()}
    assert not shared & {file_digest(p) for p in owned + excerpts}


def test_excerpts_are_small():
    """tests/data/ holds excerpts of a few MB at most, with their README."""
    files = [p for p in (REPO / "tests" / "data").rglob("*") if p.is_file()]
    assert (REPO / "tests" / "data" / "README.md") in files
    assert sum(p.stat().st_size for p in files) < 3_000_000


def _manifest(tmp_path: Path, content: bytes, url: str | None = None) -> dict:
    source = tmp_path / "source.bin"
    source.write_bytes(content)
    return {"files": [{"path": "ksrme/file.bin",
                       "sha256": hashlib.sha256(b"good data").hexdigest(),
                       "sources": [{"url": url or source.as_uri()}]}]}


def test_fetch_downloads_and_verifies(tmp_path):
    target = tmp_path / "data"
    manifest = _manifest(tmp_path, b"good data")
    report = fetch(target, manifest)
    assert report.downloaded == ("ksrme/file.bin",) and report.present == ()
    assert (target / "ksrme" / "file.bin").read_bytes() == b"good data"
    again = fetch(target, manifest)
    assert again.downloaded == () and again.present == ("ksrme/file.bin",)


def test_fetch_rejects_a_wrong_checksum(tmp_path):
    target = tmp_path / "data"
    with pytest.raises(DataError, match="sha256"):
        fetch(target, _manifest(tmp_path, b"tampered"))
    assert not list((target / "ksrme").iterdir())  # nothing left behind


def test_cli_fetch_offline_fails_with_one_line(tmp_path, capsys):
    manifest_path = tmp_path / "manifest.json"
    unreachable = "http://127.0.0.1:9/file.bin"  # the discard port: connection refused
    manifest_path.write_text(json.dumps(_manifest(tmp_path, b"good data", unreachable)))
    code = main(["data", "fetch", "--data-dir", str(tmp_path / "data"), "--manifest",
                 str(manifest_path), "--timeout", "5"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot download ksrme/file.bin" in err
    assert not (tmp_path / "data" / "ksrme" / "file.bin").exists()
