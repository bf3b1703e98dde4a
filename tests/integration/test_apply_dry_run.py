"""`apply --dry-run`: validates as apply does, prints the pod as stored or the runtime's plan, and
changes nothing on the node; the plan's cgroup values, mounts and capabilities are what a real apply
then makes."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tests.integration.helpers import Node, alive, proc_stat  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]

CGROUP_ROOT = "/sys/fs/cgroup"
V1_UNLIMITED = 2**62  # memory.limit_in_bytes reads back -1 as the largest page multiple


def manifest(host_port: int) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: planned
  labels: {{app: planned}}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: data
    emptyDir: {{}}
  securityContext: {{runAsUser: 1000, fsGroup: 2000}}
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [httpd, -f, -p, "8080"]
    ports: [{{containerPort: 8080, hostPort: {host_port}}}]
    resources:
      requests: {{cpu: 250m, memory: 32Mi}}
      limits: {{cpu: 500m, memory: 64Mi}}
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL], add: [NET_BIND_SERVICE]}}
    volumeMounts: [{{name: data, mountPath: /data}}]
  - name: side
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
"""


@pytest.fixture()
def dnode(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path, cgroup_parent=f"pyrunc-t{secrets.token_hex(4)}")
    try:
        yield n
    finally:
        try:
            n.teardown()
        finally:
            _remove_parent(n)


def _parent(node: Node) -> str:
    return str(json.loads(Path(node.root, "config.json").read_text())["cgroup_parent"])


def _parent_dirs(node: Node) -> list[Path]:
    return [p for p in Path(CGROUP_ROOT).glob(f"*/{_parent(node)}")] + [Path(CGROUP_ROOT, _parent(node))]


def _remove_parent(node: Node) -> None:
    for top in _parent_dirs(node):
        if top.is_dir():
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                d.rmdir()
            top.rmdir()


def _tree(*tops: str) -> list[str]:
    out = []
    for top in tops:
        for dirpath, dirs, files in os.walk(top):
            out += [os.path.join(dirpath, n) for n in sorted(dirs + files)]
    return sorted(out)


def _plan_rows(plan: str, section_start: str, section_end: str) -> list[tuple[str, str]]:
    """(cgroup file, value) rows of one section of the plan text."""
    text = plan.split(section_start, 1)[1].split(section_end, 1)[0]
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(CGROUP_ROOT):
            rows.append((parts[0], parts[1]))
    return rows


def test_dry_run_plan_matches_what_apply_writes_and_changes_nothing(dnode: Node) -> None:
    node = dnode
    text = manifest(20000 + secrets.randbelow(9000))
    before = _tree(node.root, node.data_dir, node.logs_dir)
    plan = node.run("apply", "--dry-run", "-o", "plan", "-f", "-", input=text).stdout
    stored = node.run("apply", "--dry-run=client", "-o", "yaml", "-f", "-", input=text).stdout
    assert node.run("apply", "--dry-run", "-f", "-", input=text).stdout == "pod/planned created (dry run)\n"
    # Nothing touched: no file under the root, data or log directories, no cgroup, no daemon.
    assert _tree(node.root, node.data_dir, node.logs_dir) == before
    assert not any(p.exists() for p in _parent_dirs(node))
    assert not Path(node.root, "supervisor.sock").exists() and not node.daemon_pids

    # The plan's parts.
    assert "QoS class: Burstable" in plan
    assert "new, pinned at " + str(Path(node.root, "pods", "default_planned", "ns", "net")) in plan
    assert f"next free address from {node.subnet}" in plan
    assert re.search(r"hostPort\s+TCP \*:\d+ -> <pod IP>:8080", plan)
    web = plan.split("Container web:", 1)[1].split("Container side:", 1)[0]
    assert re.search(r"/data\s+bind\s+\S+/volumes/kubernetes.io~empty-dir/data\s+rbind,rw", web), web
    assert "Capabilities (effective): <none>" in web and "Capabilities (bounding): CAP_NET_BIND_SERVICE" in web
    assert "no_new_privs: yes" in web and "User: uid=1000 gid=0 groups=0,2000" in web
    mounts = [line.split()[0] for line in web.split("Mounts (in order", 1)[1].split("  Cgroup:", 1)[0].splitlines()[1:]]
    assert mounts[:7] == ["/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"]
    assert mounts.index("/data") < mounts.index("/proc/kcore") < mounts.index("pivot_root")

    # The real apply, and the values it wrote, compared with the plan's.
    node.apply(text)
    node.wait_running("planned")
    uid = node.uid("planned")
    rows = _plan_rows(plan, "Cgroups (", "Network:")
    rows += _plan_rows(web, "  Cgroup:", "Devices")
    side = plan.split("Container side:", 1)[1]
    rows += _plan_rows(side, "  Cgroup:", "Devices")
    assert len(rows) >= 12, rows
    for path, value in rows:
        real = Path(path.replace("pod<uid>", f"pod{uid}"))
        if real.name == "memory.swap.max" and not real.exists():
            continue  # no swap accounting in this kernel: the driver skips it too
        got = real.read_text().strip()
        if value == "-1" and real.name == "memory.limit_in_bytes":
            assert int(got) >= V1_UNLIMITED, (path, got)
        else:
            assert got == value, (path, value, got)
    pid = node.container_pid("planned", "web")
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
    assert int(status["CapBnd"], 16) == 1 << 10 and int(status["CapEff"], 16) == 0  # CAP_NET_BIND_SERVICE = 10
    points = [line.split()[4] for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()]
    assert "/data" in points and "/dev/termination-log" in points
    assert int(re.search(r"oom_score_adj (-?\d+)", web).group(1)) == int(Path(f"/proc/{pid}/oom_score_adj").read_text())

    # -o yaml is what get -o yaml shows after the apply, minus uid, timestamps and status.
    got = yaml.safe_load(node.run("get", "pod", "planned", "-o", "yaml").stdout)
    got.pop("status")
    for key in ("uid", "creationTimestamp", "resourceVersion", "generation"):
        got["metadata"].pop(key, None)
    assert yaml.safe_load(stored) == got
    # A dry run of the same manifest against the running pod: what apply would answer.
    assert node.run("apply", "--dry-run", "-f", "-", input=text).stdout == "pod/planned unchanged (dry run)\n"
    node.delete("planned")


def test_dry_run_refuses_what_apply_refuses_and_says_what_it_cannot_know(dnode: Node) -> None:
    node = dnode
    bad = node.run("apply", "--dry-run", "-o", "plan", "-f", "-", check=False, input="""
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  containers: [{name: c, image: busybox, resources: {limits: {memory: 12Q}}}]
""")
    assert bad.returncode == 1
    assert bad.stderr == 'error: spec.containers[0].resources.limits.memory: invalid quantity "12Q"\n'
    unsafe = node.run("apply", "--dry-run", "-f", "-", check=False, input="""
apiVersion: v1
kind: Pod
metadata: {name: unsafe}
spec:
  securityContext: {sysctls: [{name: kernel.msgmax, value: "1"}]}
  containers: [{name: c, image: busybox}]
""")
    assert unsafe.returncode == 1 and "SysctlForbidden" in unsafe.stderr
    absent = node.run("apply", "--dry-run", "-o", "plan", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: absent}
spec:
  containers: [{name: c, image: "example.invalid/nothing:v1"}]
""").stdout
    assert "Image: example.invalid/nothing:v1 (image not present: would be pulled)" in absent
    assert "User: from image (image not present: would be pulled)" in absent
    assert not Path(node.root, "pods").exists()
    wrong = node.run("apply", "-o", "plan", "-f", "-", check=False, input="apiVersion: v1\n")
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: -o plan needs --dry-run")
