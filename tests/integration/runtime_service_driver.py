"""Drives pyrunc's runtime service (the mechanism, no policy) directly, as a CRI server would, and prints
what it saw as one JSON object. Run as root by tests/integration/test_runtime_service.py:

    python -m tests.integration.runtime_service_driver ROOT

Steps: run a sandbox; create, start, exec into, measure, resize, stop (with a timeout the container ignores
SIGTERM through), and remove a container; check that the mechanism restarts nothing on its own; remove
the sandbox. Facts are read back from the service's records and from the host.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

from pyrunc.cgroups.plan import ContainerResources
from pyrunc.clock import SystemClock
from pyrunc.config import load_config
from pyrunc.runtime.records import ContainerRecord
from pyrunc.runtime.service import RuntimeService
from pyrunc.spec.load import pod_from_dict, pod_to_dict
from pyrunc.store.atomic import private_dir, write_json
from pyrunc.store.layout import PodLayout
from pyrunc.supervisor.loop import Loop

MANIFEST = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "svc", "namespace": "default"},
    "spec": {"containers": [{
        "name": "c", "image": "busybox",
        # Ignores SIGTERM: only the SIGKILL at the stop timeout ends it.
        "command": ["sh", "-c", "trap '' TERM; echo started; while true; do sleep 1; done"],
        "resources": {"limits": {"memory": "128Mi"}},
    }]},
}


def main(root: str) -> None:
    cfg = load_config(root)
    clock = SystemClock()
    loop = Loop(clock)
    exits: list[ContainerRecord] = []
    warnings: list[str] = []
    rt = RuntimeService(cfg, loop, clock, on_exit=lambda _key, rec: exits.append(rec),
                        warn=lambda _layout, msg: warnings.append(msg))
    pod = pod_from_dict(MANIFEST)
    pod = replace(pod, metadata=replace(pod.metadata, uid="0c6f3a52-9a7e-4c59-8f7e-7d1a7a9e2b10",
                                        creation_timestamp="2026-12-01T00:00:00Z"))
    layout = PodLayout(cfg.root, "default", "svc")
    out: dict[str, object] = {}
    private_dir(layout.dir)
    write_json(layout.pod_json, pod_to_dict(pod))
    sandbox = rt.run_pod_sandbox(pod, layout)
    sandbox_record = rt.pod_sandbox_record(layout)
    assert sandbox_record is not None
    out["sandbox"] = {"state": sandbox_record.state.value, "ip": sandbox_record.ip,
                      "net": sandbox.namespaces.get("net"), "listed": [r.name for r in rt.list_pod_sandboxes()]}

    spec = pod.spec.containers[0]
    created = rt.create_container(pod, layout, spec, 0, {})
    out["created"] = {"state": created.state.value, "pid": created.pid, "on_disk": rt.container_status(layout, "c") == created}
    running = rt.start_container(pod, layout, created)
    out["running"] = {"state": running.state.value, "pid": running.pid, "start_time": running.start_time,
                      "id": running.id, "cgroup_paths": dict(running.cgroup_paths), "log_path": running.log_path}

    result = rt.exec_sync(layout, "c", ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=20)
    out["exec_sync"] = {"exit_code": result.exit_code, "stdout": result.stdout.decode(), "stderr": result.stderr.decode()}
    slow = rt.exec_sync(layout, "c", ["sleep", "30"], timeout=0.5)
    out["exec_timeout"] = {"exit_code": slow.exit_code}

    stats = rt.container_stats(pod, "c")
    out["stats"] = {"cpu_usage_ns": stats.cpu_usage_ns, "memory_working_set": stats.memory_working_set}
    rt.update_container_resources(pod, "c", ContainerResources("c", None, 500, None, 64 * 1024 * 1024))

    # CRI StopContainer with a timeout: the stop signal (ignored here), then SIGKILL.
    rt.stop_container(running.id, 1.0)
    while not exits:
        loop.run_once(0.5)
    ended = exits[0]
    out["exited"] = {"state": ended.state.value, "exit_code": ended.exit_code, "signal": ended.signal,
                     "reason": ended.reason, "on_disk": rt.container_status(layout, "c") == ended}
    # The mechanism has no restart policy: nothing starts again, whatever the pod's policy says.
    for _ in range(4):
        loop.run_once(0.25)
    latest = rt.container_status(layout, "c")
    out["after"] = {"exits": len(exits), "state": latest.state.value if latest else None,
                    "same_instance": latest is not None and latest.id == running.id}
    with open(ended.log_path, encoding="utf-8") as f:
        out["log"] = f.read()
    rt.remove_container(pod, layout, ended)
    rt.remove_pod_sandbox(pod, layout, sandbox)
    rt.node_teardown()
    out["warnings"] = warnings
    out["removed"] = not os.path.exists(layout.dir)
    print(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
