"""`make demo`'s script, run as a user runs it, in a root of its own: it must work and leave nothing."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.helpers import REPO, Node, node  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]


@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "pyrunc").exists(), reason="make setup has not made .venv")
def test_the_demo_runs_and_cleans_up(node: Node) -> None:  # noqa: F811
    node.pods.add(("default", "sidecar-pair"))  # teardown checks it is gone
    # As after `make setup`: `pyrunc` on PATH (this checkout's, not whatever /usr/local/bin links to).
    env = {**os.environ, "PYRUNC_ROOT": node.root, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "scripts/demo.sh"], cwd=str(REPO), env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "pod/sidecar-pair created" in out and 'pod "sidecar-pair" deleted' in out
    # The two containers' namespaces, read from the host: one net/ipc/uts, a mount namespace each.
    rows = [row for row in (line.split() for line in out.splitlines()) if row[:1] in (["1st"], ["2nd"]) and row[1:2] == ["pid"]]
    assert len(rows) == 2, out
    first, second = ({k: v for k, _, v in (f.partition("=") for f in row[3:])} for row in rows)
    assert all(first[ns] == second[ns] for ns in ("net", "ipc", "uts")), rows
    assert first["mnt"] != second["mnt"], rows
    assert "No resources found in default namespace." in proc.stderr
