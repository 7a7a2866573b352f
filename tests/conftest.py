"""Shared fixtures: where the real NIR files live (``../shared/models`` beside the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from networks import SHARED_MODELS


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """Folder of the real NIR files; CI clones the repo with ``shared/`` beside it."""
    if not SHARED_MODELS.is_dir():
        pytest.fail(f"shared models not found at {SHARED_MODELS}; set NEUROCC_SHARED_MODELS")
    return SHARED_MODELS


@pytest.fixture
def cli(capsys):
    """Run ``neurocc ARGS...`` in-process; return (exit code, stdout, stderr)."""
    from neurocc.compiler.cli import main

    def run(argv: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
            raise SystemExit(0)
        out = capsys.readouterr()
        return exc.value.code, out.out, out.err

    return run
