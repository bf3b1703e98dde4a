"""Kubernetes rules the CLI-visible behaviour rests on: $(VAR) expansion, command/args against
the image's ENTRYPOINT/CMD, and the pod phase (kubelet getPhase)."""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.runtime.config import expand, resolve_command
from pyrunc.status import pod_phase

ENV = {"A": "one", "B": "two", "EMPTY": ""}


@pytest.mark.parametrize("text, out", [
    ("$(A)", "one"),
    ("x-$(A)-$(B)-y", "x-one-two-y"),
    ("$$(A)", "$(A)"),             # escaped
    ("$$$(A)", "$one"),
    ("$(MISSING)", "$(MISSING)"),  # unknown: left as written
    ("$(EMPTY)x", "x"),
    ("$(A", "$(A"),                # unterminated
    ("$()", "$()"),
    ("$A", "$A"),                  # shell syntax is not expanded
    ("cost $", "cost $"),
    ("$$", "$"),
    ("", ""),
])
def test_expand(text: str, out: str) -> None:
    assert expand(text, ENV.get) == out


@pytest.mark.parametrize("command, args, argv", [
    ([], [], ["/entry", "cmd"]),                            # image defaults
    (["sh"], [], ["sh"]),                                   # command drops the image's CMD
    ([], ["x"], ["/entry", "x"]),                           # args replace CMD only
    (["sh", "-c"], ["echo $(A)"], ["sh", "-c", "echo one"]),
    (["echo", "$(B)", "$$(B)"], [], ["echo", "two", "$(B)"]),
])
def test_resolve_command(command: list[str], args: list[str], argv: list[str]) -> None:
    assert resolve_command(command, args, ["/entry"], ["cmd"], ENV) == argv


def test_image_words_are_not_expanded() -> None:
    assert resolve_command([], ["$(A)"], ["/e", "$(A)"], ["$(B)"], ENV) == ["/e", "$(A)", "one"]


def running() -> dict[str, Any]:
    return {"name": "c", "state": {"running": {}}, "lastState": {}}


def term(code: int) -> dict[str, Any]:
    return {"name": "c", "state": {"terminated": {"exitCode": code}}, "lastState": {}}


def waiting(restarted: bool = False) -> dict[str, Any]:
    last = {"terminated": {"exitCode": 1}} if restarted else {}
    return {"name": "c", "state": {"waiting": {"reason": "X"}}, "lastState": last}


@pytest.mark.parametrize("policy, statuses, phase", [
    ("Always", [running(), running()], "Running"),
    ("Always", [running(), waiting()], "Pending"),
    ("Always", [waiting(restarted=True)], "Running"),        # CrashLoopBackOff is Running
    ("Always", [term(0)], "Running"),
    ("OnFailure", [term(0), term(0)], "Succeeded"),
    ("OnFailure", [term(0), term(1)], "Running"),           # the failed one will restart
    ("Never", [term(0), term(1)], "Failed"),
    ("Never", [term(0), running()], "Running"),
    ("Never", [], "Pending"),
])
def test_pod_phase(policy: str, statuses: list[dict[str, Any]], phase: str) -> None:
    assert pod_phase({"restartPolicy": policy}, [], statuses, supervised=True) == phase


def test_pod_phase_unsupervised_is_unknown() -> None:
    assert pod_phase({}, [], [running()], supervised=False) == "Unknown"


def test_pod_phase_init_containers() -> None:
    init_running = {"name": "i", "state": {"running": {}}, "lastState": {}}
    init_failed = {"name": "i", "state": {"terminated": {"exitCode": 1}}, "lastState": {}}
    init_done = {"name": "i", "state": {"terminated": {"exitCode": 0}}, "lastState": {}}
    assert pod_phase({}, [init_running], [waiting()], True) == "Pending"
    assert pod_phase({"restartPolicy": "Never"}, [init_failed], [waiting()], True) == "Failed"
    assert pod_phase({}, [init_failed], [waiting()], True) == "Pending"
    assert pod_phase({}, [init_done], [running()], True) == "Running"
    sidecar = {"initContainers": [{"name": "i", "restartPolicy": "Always"}]}
    assert pod_phase(sidecar, [init_running], [running()], True) == "Running"
