"""Kubernetes rules the CLI-visible behaviour rests on: $(VAR) expansion, command/args against
the image's ENTRYPOINT/CMD, and the pod phase (kubelet getPhase)."""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.images.store import Image, ImageRef
from pyrunc.runtime.config import SandboxFacts, container_config, expand, resolve_command, resolve_env
from pyrunc.spec import pod_from_dict
from pyrunc.status import pod_phase
from pyrunc.store.layout import PodLayout

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


IMAGE_ENV = ("FROM_IMAGE=image", "A=image-a", "PATH=/bin")


def _pod(container: dict[str, Any]) -> Any:
    return pod_from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                          "spec": {"containers": [{"name": "app", "image": "busybox", **container}]}})


def _env(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs]


def test_env_expands_only_from_the_containers_own_earlier_vars() -> None:
    # kubelet makeEnvironmentVariables: the image's ENV is containerd's, never the kubelet's mapping.
    env = _pod({"env": _env(("B", "$(A)"), ("A", "own-a"), ("C", "$(A)-$(B)"), ("D", "$(FROM_IMAGE)"),
                            ("E", "$(PATH)"))}).spec.containers[0].env
    resolved = dict(resolve_env(env, IMAGE_ENV, lambda src: "unused"))
    assert resolved["B"] == "$(A)"          # A is defined later; the image's A is not looked at
    assert resolved["C"] == "own-a-$(A)"
    assert resolved["D"] == "$(FROM_IMAGE)"
    assert resolved["E"] == "$(PATH)"
    assert resolved["FROM_IMAGE"] == "image" and resolved["PATH"] == "/bin"  # still in the process's env
    assert resolved["A"] == "own-a"         # the container's own value wins


def _config(container: dict[str, Any], image_env: tuple[str, ...] = IMAGE_ENV) -> Any:
    pod = _pod(container)
    image = Image(ImageRef("docker.io", "library/busybox", "latest"), ("/nonexistent",), "sha256:0",
                  env=image_env, entrypoint=("/entry", "$(OWN)"), cmd=("cmd",))
    return container_config(pod, pod.spec.containers[0], image, SandboxFacts({}, ""),
                            layout=PodLayout("/nonexistent", "default", "web"), node_cpus=1, node_memory=2**30)


def test_command_and_args_expand_from_the_kubelets_env_only() -> None:
    # ExpandContainerCommandAndArgs gets the kubelet's env: not the image's ENV, not containerd's HOSTNAME.
    cfg = _config({"command": ["echo", "$(FROM_IMAGE)", "$(OWN)", "$(HOSTNAME)", "$(A)"],
                   "args": ["$(COPY)"], "env": _env(("OWN", "own"), ("COPY", "$(FROM_IMAGE)"))})
    assert cfg.args == ("echo", "$(FROM_IMAGE)", "own", "$(HOSTNAME)", "$(A)", "$(FROM_IMAGE)")
    env = dict(cfg.env)
    assert env["COPY"] == "$(FROM_IMAGE)" and env["FROM_IMAGE"] == "image" and env["HOSTNAME"] == "web"


def test_args_alone_keep_the_images_entrypoint_literal() -> None:
    cfg = _config({"args": ["$(OWN)"], "env": _env(("OWN", "own"))})
    assert cfg.args == ("/entry", "$(OWN)", "own")


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
    # OnFailure restarts a failed init container: the pod stays Pending, only Never fails it.
    assert pod_phase({"restartPolicy": "OnFailure"}, [init_failed], [waiting()], True) == "Pending"
    assert pod_phase({"restartPolicy": "Always"}, [init_failed], [waiting()], True) == "Pending"
    assert pod_phase({}, [init_done], [running()], True) == "Running"
    sidecar = {"initContainers": [{"name": "i", "restartPolicy": "Always"}]}
    assert pod_phase(sidecar, [init_running], [running()], True) == "Running"
