"""The allocator setting that keeps freed memory between model calls."""

import platform

import numpy as np
import pytest

from latdyn.forces import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")
def test_thresholds_raised_once_on_glibc(monkeypatch):
    monkeypatch.setattr(allocator, "_state", {})
    assert allocator.keep_freed_memory() is True
    assert allocator._state == {"applied": True}
    # a second call reuses the recorded outcome
    assert allocator.keep_freed_memory() is True
    # large arrays still allocate and free normally afterwards
    block = np.ones(64 * 1024 * 1024 // 8)
    assert block.sum() == block.size


def test_no_change_off_linux(monkeypatch):
    monkeypatch.setattr(allocator, "_state", {})
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False
