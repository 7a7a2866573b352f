"""Fixtures of the backend tests: a fake ``samna`` package on the path, forgotten afterwards."""

from __future__ import annotations

import importlib
import sys
from typing import Callable

import pytest


@pytest.fixture
def fake_samna(tmp_path, monkeypatch) -> Callable[[dict[str, str]], None]:
    """``fake_samna({file name: source})`` puts a package ``samna`` made of those files first on
    ``sys.path``; whatever was imported as ``samna`` is forgotten after the test."""
    def install(files: dict[str, str]) -> None:
        pkg = tmp_path / "samna"
        pkg.mkdir()
        for name, text in files.items():
            (pkg / name).write_text(text)
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.invalidate_caches()

    yield install
    for name in [m for m in sys.modules if m == "samna" or m.startswith("samna.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
