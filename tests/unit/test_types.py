"""mypy over pyrunc/ with the configuration in pyproject.toml (strict on the runtime service and the plan)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (pip install -e '.[test]', or make setup)")
def test_pyrunc_type_checks() -> None:
    # mypy keeps its cache in .mypy_cache (ignored by git): a second run takes about a second.
    run = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"mypy found errors:\n{run.stdout}{run.stderr}"
