"""Atomic writes never leave a file that looks complete."""

import pytest

from latdyn.files import atomic_open, write_json


def test_atomic_open_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("partial")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_open_fresh_file_absent_on_failure(tmp_path):
    target = tmp_path / "sub" / "summary.json"
    with pytest.raises(KeyboardInterrupt), atomic_open(target) as handle:
        handle.write("{")
        raise KeyboardInterrupt
    assert not target.exists()
    write_json(target, {"a": 1.5})
    assert target.read_text().strip().startswith("{")
