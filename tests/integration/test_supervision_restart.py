"""Restart policy, back-off and terminated states through the real CLI (the kubelet's restart policy and back-off).

All pods of this module run side by side on one node whose crash-loop back-off is shortened to 2 s
(`crashloop_max_backoff`, the model of the kubelet's `maxContainerRestartPeriod`): the pods are
applied once and each test polls the facts it needs.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from tests.integration.helpers import Node, poll
from tests.integration.supervision_helpers import describe_events, get_row, started_node, status_of, wait_status

pytestmark = [pytest.mark.root, pytest.mark.network]


def container_pod(name: str, command: str, restart: str = "Always", extra: str = "", volumes: str = "") -> str:
    """A one-container busybox pod running `sh -c COMMAND`."""
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n"
            f"  terminationGracePeriodSeconds: 0\n  restartPolicy: {restart}\n"
            f"  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, {command!r}]\n{extra}{volumes}")


AGAIN = container_pod(
    "again",
    # First run: write into the rootfs and the emptyDir, then fail with 3. Second run: stay up.
    "if [ -f /data/ran ]; then sleep 3600; fi; echo first > /marker; touch /data/ran; exit 3",
    extra="    volumeMounts:\n    - {name: data, mountPath: /data}\n",
    volumes="  volumes:\n  - name: data\n    emptyDir: {}\n")
CRASH = container_pod("crash", "echo crashing; exit 1")
NEVER = container_pod("never", "exit 1", restart="Never")
ONFAIL = container_pod("onfail", "exit 0", restart="OnFailure")
NOBIN = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: nobin\nspec:\n  terminationGracePeriodSeconds: 0\n"
         "  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n"
         "    command: [/no/such/binary-xyz]\n")
TERMMSG = container_pod("termmsg", "printf 'bye from termmsg' > /dev/termination-log; exit 0", restart="Never")
FALLBACK = container_pod("fallback", "echo line-one; echo last-words; exit 2", restart="Never",
                         extra="    terminationMessagePolicy: FallbackToLogsOnError\n")
# The kubelet makes the termination-log file 0666: a container running as any user can write its message.
TERMMSG_USER = container_pod("termuser", "printf 'bye from 1000' > /dev/termination-log; exit 0", restart="Never",
                             extra="    securityContext: {runAsUser: 1000}\n")
PODS = [AGAIN, CRASH, NEVER, ONFAIL, NOBIN, TERMMSG, FALLBACK, TERMMSG_USER]


@pytest.fixture(scope="module")
def rnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node with a 2 s crash-loop back-off and every pod of this module applied at once."""
    with started_node(tmp_path_factory.mktemp("restart"), PODS, crashloop_max_backoff=2) as n:
        yield n


def terminated(node: Node, pod: str) -> dict[str, Any]:
    return wait_status(node, pod, "terminated", lambda st: "terminated" in st["state"])


def test_exit_3_then_restarted_keeps_emptydir_with_fresh_rootfs(rnode: Node) -> None:
    obj = wait_status(rnode, "again", "restarted and running",
                      lambda st: st["restartCount"] >= 1 and "running" in st["state"])
    st = status_of(obj)
    assert st["restartCount"] == 1
    assert st["lastState"]["terminated"]["exitCode"] == 3
    assert st["lastState"]["terminated"]["reason"] == "Error"
    assert obj["status"]["phase"] == "Running"
    # The pod's volume survives the restart; the container's writable layer does not.
    assert rnode.exec("again", "c", "ls", "/data/ran").returncode == 0
    gone = rnode.exec("again", "c", "cat", "/marker", check=False)
    assert gone.returncode != 0, f"/marker of the first instance survived the restart: {gone.stdout!r}"


def test_crash_loop_back_off_between_restarts(rnode: Node) -> None:
    obj = wait_status(rnode, "crash", "CrashLoopBackOff",
                      lambda st: st["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff")
    st = status_of(obj)
    uid = obj["metadata"]["uid"]
    assert st["state"]["waiting"]["message"] == f"back-off 2s restarting failed container=c pod=crash_default({uid})"
    assert st["restartCount"] >= 1
    assert st["lastState"]["terminated"]["exitCode"] == 1
    assert st["lastState"]["terminated"]["reason"] == "Error"
    assert obj["status"]["phase"] == "Running"  # CrashLoopBackOff is a display status, not a phase

    def row_backing_off() -> list[str] | None:
        row = get_row(rnode, "crash")
        return row if row[2] == "CrashLoopBackOff" else None

    row = poll("`get pods` STATUS CrashLoopBackOff", row_backing_off)
    assert row[1] == "0/1"
    assert re.fullmatch(r"\d+ \(\d+[smhd]\d*[smh]? ago\)", " ".join(row[3:6])), row

    # Restarts keep coming (the back-off is 2 s, not the 10 s default doubled) and each is an event.
    poll("a third restart", lambda: status_of(rnode.pod_json("crash"))["restartCount"] >= 3)
    events = describe_events(rnode, "crash")
    assert ("Warning", "BackOff") in {(t, r) for t, r, _ in events}, events
    backoff = next(m for t, r, m in events if r == "BackOff")
    assert backoff.startswith("Back-off restarting failed container c"), backoff


@pytest.mark.parametrize("pod,exit_code,reason,phase", [
    ("never", 1, "Error", "Failed"),          # restartPolicy Never + exit 1
    ("onfail", 0, "Completed", "Succeeded"),  # restartPolicy OnFailure + exit 0
])
def test_terminal_phase_and_reason(rnode: Node, pod: str, exit_code: int, reason: str, phase: str) -> None:
    st = status_of(terminated(rnode, pod))
    assert (st["state"]["terminated"]["exitCode"], st["state"]["terminated"]["reason"]) == (exit_code, reason)
    assert st["restartCount"] == 0
    poll(f"{pod} {phase}", lambda: rnode.pod_json(pod)["status"]["phase"] == phase)
    assert get_row(rnode, pod)[1:4] == ["0/1", reason, "0"]  # kubectl's STATUS is the terminated reason


def test_missing_binary_is_start_error(rnode: Node) -> None:
    obj = terminated(rnode, "nobin")
    term = status_of(obj)["state"]["terminated"]
    assert term["reason"] == "StartError"
    assert term["exitCode"] == 128
    assert "/no/such/binary-xyz" in term.get("message", ""), term
    poll("nobin Failed", lambda: rnode.pod_json("nobin")["status"]["phase"] == "Failed")


def test_termination_message_path(rnode: Node) -> None:
    term = status_of(terminated(rnode, "termmsg"))["state"]["terminated"]
    assert term["reason"] == "Completed"
    assert term.get("message") == "bye from termmsg"


def test_termination_message_of_a_non_root_user(rnode: Node) -> None:
    term = status_of(terminated(rnode, "termuser"))["state"]["terminated"]
    assert term["reason"] == "Completed" and term.get("message") == "bye from 1000", term


def test_fallback_to_logs_on_error(rnode: Node) -> None:
    term = status_of(terminated(rnode, "fallback"))["state"]["terminated"]
    assert term["exitCode"] == 2
    # The termination-log file is empty and the exit failed: the message is the log's tail.
    assert term.get("message", "").rstrip("\n").endswith("line-one\nlast-words"), term
