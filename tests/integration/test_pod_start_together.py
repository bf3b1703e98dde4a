"""A pod's app containers are launched side by side (runtime/service.py start_containers): each one still gets
its own output, stdin and terminal, and one that cannot start does not hold the others back; `apply`
checks the manifests in the running supervisor (supervisor/intake.py) with the same answers as the CLI's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import Node, node, poll  # noqa: F401

pytestmark = [pytest.mark.root]

TOGETHER = """apiVersion: v1
kind: Pod
metadata:
  name: together
spec:
  restartPolicy: Never
  containers:
  - name: plain
    image: busybox
    command: ["sh", "-c", "echo out-of-plain; echo err-of-plain >&2; sleep 3600"]
  - name: term
    image: busybox
    tty: true
    command: ["sh", "-c", "echo out-of-term; sleep 3600"]
  - name: input
    image: busybox
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "echo out-of-input; read line; echo got-$line"]
  - name: broken
    image: busybox
    command: ["/no/such/binary-together"]
"""


def statuses(n: Node, pod: str) -> dict[str, dict]:
    return {s["name"]: s for s in n.pod_json(pod)["status"].get("containerStatuses") or []}


def test_containers_started_together_keep_their_own_stdio(node: Node) -> None:  # noqa: F811
    node.apply(TOGETHER)

    def settled() -> dict[str, dict] | None:
        st = statuses(node, "together")
        running = [name for name in ("plain", "term", "input") if "running" in st.get(name, {}).get("state", {})]
        broken = st.get("broken", {}).get("state", {}).get("terminated")
        return st if len(running) == 3 and broken else None

    st = poll("three containers running and one StartError", settled)
    term = st["broken"]["state"]["terminated"]
    assert (term["reason"], term["exitCode"]) == ("StartError", 128), term
    for name, marker in (("plain", "out-of-plain"), ("term", "out-of-term"), ("input", "out-of-input")):
        poll(f"{name}'s output in its own log", lambda: marker in node.run("logs", "together", "-c", name).stdout)
    logs = {name: node.run("logs", "together", "-c", name).stdout for name in ("plain", "term", "input")}
    assert "err-of-plain" in logs["plain"]
    for name, text in logs.items():
        others = {"out-of-plain", "err-of-plain", "out-of-term", "out-of-input"} - {f"out-of-{name}", f"err-of-{name}"}
        assert not any(o in text for o in others), (name, text)
    # The stdin pipe went to the container that asked for it (attach writes to it).
    proc = node.run("attach", "-i", "together", "-c", "input", input="hello\n")
    assert "got-hello" in proc.stdout, proc.stdout
    assert "got-hello" in node.run("logs", "together", "-c", "input").stdout


BAD = {
    "invalid": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n"
                "  - name: a\n    image: busybox\n    bogus: 1\n"),
    "yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n",
    "other-node": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: far\nspec:\n  nodeName: elsewhere\n"
                   "  priorityClassName: nosuch\n  containers:\n  - name: a\n    image: busybox\n"),
    "sysctl": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: sys\nspec:\n  securityContext:\n"
               "    sysctls: [{name: kernel.msgmax, value: '1'}]\n  containers:\n  - name: a\n    image: busybox\n"),
    "empty": "---\n",
    "binary": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n  annotations: {a: !!binary aGVsbG8=}\nspec:\n"
               "  containers:\n  - name: a\n    image: busybox\n"),
}


def test_apply_checks_read_the_same_with_a_running_supervisor(node: Node, tmp_path: Path) -> None:  # noqa: F811
    without = {}
    for case, manifest in BAD.items():
        proc = node.run("apply", "-f", "-", input=manifest, check=False)
        without[case] = (proc.returncode, proc.stdout, proc.stderr)
    assert sorted(p.name for p in Path(node.root).iterdir()) == ["config.json"]  # no supervisor was started
    node.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: keep\nspec:\n  containers:\n  - name: a\n"
               "    image: busybox\n    command: [sleep, '3600']\n")
    daemon = node.daemon_pid()
    for case, manifest in BAD.items():
        proc = node.run("apply", "-f", "-", input=manifest, check=False)
        assert (proc.returncode, proc.stdout, proc.stderr) == without[case], case
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert node.daemon_pid() == daemon
    assert sorted(p.name for p in (Path(node.root) / "pods").iterdir()) == ["default_keep"]
    # A file of two pods, one warned about, through the supervisor: both created, the warning printed once.
    two = tmp_path / "two.yaml"
    two.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: one\nspec:\n  priorityClassName: nosuch\n"
                   "  containers:\n  - name: a\n    image: busybox\n    command: [sleep, '3600']\n---\n"
                   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two\nspec:\n  containers:\n  - name: a\n"
                   "    image: busybox\n    command: [sleep, '3600']\n")
    proc = node.apply_file(two)
    assert proc.stdout == "pod/one created\npod/two created\n"
    assert proc.stderr.count("Warning: spec.priorityClassName") == 1, proc.stderr
    node.wait_running("one")
    node.wait_running("two")
