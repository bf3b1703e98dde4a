"""The pyrunc-oci bench's smoke run (bench/oci.py with one repetition): it runs, cleans up, and reports a
median for pyrunc-oci's run and exec (and for runc and crun when they are installed). No time is asserted:
benchmarks are never tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import REPO

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="the bench runs containers: root only")]


def test_oci_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "oci.md"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "oci.py"), "--repeat", "1", "--out", str(out),
                           "--pyrunc-oci", f"{sys.executable} -m pyrunc.oci"], capture_output=True, text=True,
                          timeout=300, check=False, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = out.read_text(encoding="utf-8")
    for measure in ("run /bin/true", "exec /bin/true"):
        assert re.search(rf"^\| {re.escape(measure)} \| pyrunc-oci \| \d+ ms \| ", text, re.M), text
    assert "Errors:" not in text or "pyrunc-oci:" not in text.split("Errors:", 1)[1], text
