"""Probes and lifecycle-hook actions: one module per mechanism, a child-process framework, the kubelet's counting.

    runner.py   ContainerProbes / ActionRunner: schedule actions on the supervisor's loop, report results
    worker.py   ProbeWorker: thresholds, periods, startup gating (kubelet pkg/kubelet/prober/worker.go); no I/O
    action.py   spawn / collect: every action is a forked child whose exit status is the result
    starter.py  who forks it: the action spawner (SpawnerClient) or the supervisor itself (InProcess)
    spawner.py  the action spawner: a small process of its own that forks the action children
    wire.py     the spawner's messages (JSON packets)
    exec.py     run a command inside the container (kubelet pkg/probe/exec)
    http.py     httpGet (kubelet pkg/probe/http)
    tcp.py      tcpSocket, and the dialer the network mechanisms share (kubelet pkg/probe/tcp)
    grpc.py     grpc.health.v1.Health/Check over HTTP/2, standard library only (kubelet pkg/probe/grpc)

This module holds the vocabulary they share: where an action runs (Target), its result (ActionResult), the
child's exit codes and Go's wording of network errors.

Exit status: 0 success, 1 failure, 2 error. "Error" is the kubelet's "probe errored" (the runtime could not run
the probe, e.g. the container is gone or a named port does not exist): the kubelet throws that result away, so
`ActionResult.result` is None. A child killed by the caller's backstop is a failure.

Messages are worded like the kubelet's (pkg/probe/{exec,http,tcp,grpc}), which quotes Go's net errors:
`Get "http://10.66.0.2:8080/healthz": dial tcp 10.66.0.2:8080: connect: connection refused`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Union

from pyrunc.spec.model import ExecAction, GRPCAction, HTTPGetAction, TCPSocketAction

Handler = Union[ExecAction, HTTPGetAction, TCPSocketAction, GRPCAction]

SUCCESS, FAILURE, ERROR = 0, 1, 2
MAX_OUTPUT = 10 * 1024  # exec output and HTTP body kept for the message (kubelet maxReadLength / maxRespBodyLength)


@dataclass(frozen=True, slots=True)
class Target:
    """Where an action runs: the pod's network and the container's process, config and cgroups."""

    netns: str | None  # a netns file to setns into for network actions (None = host netns, for hostNetwork pods)
    pod_ip: str
    container_pid: int  # the container's first process, as the host sees it (exec joins its namespaces)
    exec_config: str  # the container's config.json (runtime.config.ContainerConfig), for env/user/cwd
    cgroup_procs: tuple[str, ...] = ()  # cgroup.procs files the exec'd command joins


@dataclass(frozen=True, slots=True)
class ActionResult:
    result: bool | None  # True success, False failure, None error (do not count it)
    message: str


class Failed(Exception):
    """Ends an action early with an exit code and the message for the kubelet-style report."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def join_host_port(host: str, port: int) -> str:
    """Go's net.JoinHostPort: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def go_quote(text: str) -> str:
    """Go's %q for the strings that appear here (printable text): a double-quoted, escaped string."""
    return json.dumps(text, ensure_ascii=False)


def errno_text(e: OSError) -> str:
    """The errno's text as Go prints it: in lower case ("connection refused"); Python capitalises it."""
    text = os.strerror(e.errno) if e.errno else str(e)
    return text[:1].lower() + text[1:]
