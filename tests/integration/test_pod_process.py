"""What a container runs: command/args/workingDir/env with $(VAR) expansion and the downward API,
checked from the host (/proc/PID/{cmdline,environ,cwd}) and through `exec`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.helpers import Node, module_node, pod_yaml  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]

CONTAINER = """  - name: app
    image: busybox
    workingDir: /srv/dir
    env:
    - {name: FIRST, value: one}
    - {name: SECOND, value: "$(FIRST)-two"}
    - {name: ESCAPED, value: "$$(FIRST)"}
    - {name: UNKNOWN, value: "$(NOPE)"}
    - name: MY_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: MY_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    command: [sh, -c]
    args: ['trap "exit 0" TERM; echo $(SECOND); sleep 3600 & wait', "$(FIRST)", "$$(FIRST)"]
    volumeMounts:
    - {name: data, mountPath: /data}
"""


@pytest.fixture(scope="module")
def app(module_node: Node) -> Node:  # noqa: F811
    module_node.apply(pod_yaml("proc", CONTAINER, "  volumes:\n  - {name: data, emptyDir: {}}\n"))
    module_node.wait_running("proc")
    return module_node


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if item)


def test_command_and_args_expanded(app: Node) -> None:
    argv = Path(f"/proc/{app.container_pid('proc', 'app')}/cmdline").read_bytes().split(b"\0")[:-1]
    assert [a.decode() for a in argv] == [
        "sh", "-c", 'trap "exit 0" TERM; echo one-two; sleep 3600 & wait', "one", "$(FIRST)"]


def test_env_expansion_rules(app: Node) -> None:
    env = environ(app.container_pid("proc", "app"))
    assert env["FIRST"] == "one"
    assert env["SECOND"] == "one-two"
    assert env["ESCAPED"] == "$(FIRST)"
    assert env["UNKNOWN"] == "$(NOPE)"
    assert env["HOSTNAME"] == "proc"
    assert "PATH" in env


def test_field_ref_env(app: Node) -> None:
    env = environ(app.container_pid("proc", "app"))
    assert env["MY_NAME"] == "proc"
    assert env["MY_IP"] == app.pod_json("proc")["status"]["podIP"] != ""


def test_working_dir(app: Node) -> None:
    pid = app.container_pid("proc", "app")
    assert os.readlink(f"/proc/{pid}/cwd").endswith("/srv/dir")
    assert app.exec("proc", "app", "pwd").stdout == "/srv/dir\n"


def test_exec_passes_the_exit_status(app: Node) -> None:
    assert app.exec("proc", "app", "sh", "-c", "exit 7", check=False).returncode == 7
    assert app.exec("proc", "app", "true").returncode == 0


def test_exec_runs_with_the_containers_env_and_mounts(app: Node) -> None:
    out = app.exec("proc", "app", "sh", "-c", "echo $SECOND $MY_NAME; echo x > /data/from-exec").stdout
    assert out == "one-two proc\n"
    assert (app.volume_dir("proc", "data") / "from-exec").read_text() == "x\n"
    # The same namespaces as the container's PID 1: hostname and the pod's /etc/hosts.
    assert app.exec("proc", "app", "hostname").stdout == "proc\n"


def test_exec_missing_binary(app: Node) -> None:
    proc = app.exec("proc", "app", "no-such-binary", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-binary" in lines[0]
    assert "Traceback" not in proc.stderr


def test_exec_unknown_container(app: Node) -> None:
    proc = app.exec("proc", "nope", "true", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "nope" in proc.stderr
