"""The bench smoke run (issue 12: "the bench smoke run stays in CI"): bench/run.py with the fewest pods and
repetitions, pyrunc only (--no-peers: CI's fresh machine has no podman, runc or crun; the peers' cells must
then read n/a), checking that it ran and wrote a well-formed report. No time is asserted: benchmarks are
never tests. The pod and scale measures are run; the pull measure needs its peers (skopeo, a registry).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import PYRUNC, REPO, unique_subnet

BENCH = REPO / "bench" / "run.py"
ROW = re.compile(r"^\| [^|]+ \|( [^|]* \|)+$")


def bench(tmp_path: Path, *args: str) -> tuple[str, Path]:
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--no-peers", "--repeat", "1", "--out", str(out),
         "--pod-subnet", unique_subnet(), "--pyrunc", " ".join(PYRUNC), *args],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    raw = re.search(r"^wrote .* and (\S+)$", proc.stdout, re.M)
    if raw:
        Path(raw.group(1)).unlink(missing_ok=True)  # the raw figures of a smoke run are worth nothing
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr
    return out.read_text(encoding="utf-8"), out


def table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    assert rows and all(ROW.match(line) for line in rows), rows
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in rows]


@pytest.mark.skipif(os.geteuid() != 0, reason="the bench runs pods: root only")
def test_pod_measures_without_peers(tmp_path: Path) -> None:
    text, _ = bench(tmp_path, "--only", "pods", "--pods", "2")
    assert text.startswith("# Benchmarks: pyrunc against podman, runc and crun")
    rows = table_rows(text)
    header, body = rows[0], rows[1:]
    assert header == ["measure", "ours", "value", "peer", "value", "ratio", "target", "met"]
    by_measure = {(r[0], r[3]): r for r in body}
    start = by_measure[("pod start", "podman kube play")]
    assert re.fullmatch(r"\d+ ms", start[2]), start  # pyrunc measured
    assert start[4] == "n/a" and start[5] == "n/a" and start[7] == "n/a"  # the absent peer
    assert re.fullmatch(r"\d+ ms", by_measure[("get pods, 2 pods", "podman ps -q")][2])
    assert re.fullmatch(r"\d+\.\d\d MiB", by_measure[("runtime PSS per pod, 2 pods", "conmon+catatonit")][2])
    errors = text.split("## Errors", 1)[1]
    assert "pyrunc" not in errors, errors  # only the peers failed (not measured)


@pytest.mark.skipif(os.geteuid() != 0, reason="the bench runs pods: root only")
def test_scale_measure_without_peers(tmp_path: Path) -> None:
    text, out = bench(tmp_path, "--only", "scale", "--scale-pods", "2", "--idle", "2")
    assert "<!-- scale measure" in text and "<!-- end of the scale measure -->" in text
    rows = {r[0]: r for r in table_rows(text)}
    assert rows["2 pods"] == ["2 pods", "pyrunc", "podman", "ratio", "target", "met"]
    assert re.fullmatch(r"\d+ ms", rows["get pods (podman ps)"][1])
    assert re.fullmatch(r"\d+\.\d %", rows["idle CPU, % of a core over 2 s"][1])
    assert re.fullmatch(r"\d+\.\d MiB", rows["runtime PSS"][1])
    assert rows["left on the host afterwards"][1] == "nothing"  # all down, nothing left
    assert all(cell == "n/a" for cell in rows["get pods (podman ps)"][2:4])
    # A second run replaces the section instead of appending another.
    out.write_text("# kept\n\n" + text, encoding="utf-8")
    text, _ = bench(tmp_path, "--only", "scale", "--scale-pods", "1", "--idle", "1")
    assert text.startswith("# kept") and text.count("<!-- scale measure") == 1 and "| 1 pods |" in text
