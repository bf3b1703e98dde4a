"""The runtime service on its own (CRI's RuntimeService shape, no policy), driven like a CRI server would
drive it (tests/integration/runtime_service_driver.py), and looked at from the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import REPO, Node, alive, node  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]


def test_runtime_service_runs_a_container_without_policy(node: Node) -> None:  # noqa: F811
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "tests.integration.runtime_service_driver", node.root],
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    sandbox = out["sandbox"]
    assert sandbox["state"] == "READY" and sandbox["listed"] == ["svc"]
    assert sandbox["ip"].startswith(node.subnet.rsplit(".", 2)[0]), sandbox
    assert sandbox["net"].endswith("/pods/default_svc/ns/net")

    assert out["created"] == {"state": "CREATED", "pid": 0, "on_disk": True}
    running = out["running"]
    assert running["state"] == "RUNNING" and running["pid"] > 0 and len(running["id"]) == 64
    assert all(path.endswith("/c") for path in running["cgroup_paths"].values())
    assert running["log_path"].startswith(node.logs_dir + "/default_svc_")

    assert out["exec_sync"] == {"exit_code": 3, "stdout": "out\n", "stderr": "err\n"}
    assert out["exec_timeout"] == {"exit_code": None}
    assert out["stats"]["cpu_usage_ns"] > 0 and out["stats"]["memory_working_set"] > 0

    # Stopped with a timeout through an ignored SIGTERM: SIGKILL ended it, and the record says so.
    assert out["exited"] == {"state": "EXITED", "exit_code": 137, "signal": 9, "reason": "Error", "on_disk": True}
    assert not alive(running["pid"], running["start_time"])
    # No policy in the mechanism: the pod says restartPolicy Always, yet nothing was started again.
    assert out["after"] == {"exits": 1, "state": "EXITED", "same_instance": True}
    assert " stdout F started" in out["log"]
    assert out["removed"]
    for place in (Path(node.data_dir, "pods"), Path(node.logs_dir)):  # the pod's data and logs went with it
        assert not place.exists() or not any(place.iterdir()), sorted(place.iterdir())
