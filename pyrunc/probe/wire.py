"""The messages between the supervisor and the action spawner (probe/spawner.py): one JSON object per packet.

The socket is a SOCK_SEQPACKET pair: a packet is a whole message, so no framing is needed. Fields use the
Kubernetes names of the handler (`exec`, `httpGet`, `tcpSocket`, `grpc`) so that a message reads like the
probe it came from.

    supervisor -> spawner   {"id": N, "handler": {"exec": {"command": [...]}}, "target": {...},
                             "timeout": T, "ports": {"http": 8080}, "purpose": "probe" | "lifecycle"}
                            + the write end of the action's message pipe (SCM_RIGHTS)
    spawner -> supervisor   {"ready": PID}                 once, when it serves (after its imports)
                            {"id": N, "pid": PID}           the action child runs
                            {"id": N, "status": S | null}   it was reaped: its wait status; null when it could
                                                            not be started (the reason is in the message pipe)

Decoding checks every field's type and raises WireError: a message is never trusted to be well formed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from pyrunc.probe import Handler, Target
from pyrunc.spec.model import ExecAction, GRPCAction, HTTPGetAction, HTTPHeader, TCPSocketAction

PURPOSES = ("probe", "lifecycle")


class WireError(ValueError):
    """A message that is not one of the forms above."""


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    handler: Handler
    target: Target
    timeout: float
    ports: Mapping[str, int]
    purpose: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message of the spawner: `ready` set (the spawner's pid), or `id` with `pid` or `status`."""

    id: int = 0
    ready: int | None = None
    pid: int | None = None
    status: int | None = None
    ended: bool = False  # a status message (its status may be None: the child could not be started)


# --- requests ---------------------------------------------------------------------------------------------
def encode_request(req: Request) -> bytes:
    if req.purpose not in PURPOSES:
        raise WireError(f"purpose must be 'probe' or 'lifecycle', not {req.purpose!r}")
    t = req.target
    return json.dumps({
        "id": req.id,
        "handler": _encode_handler(req.handler),
        "target": {"netns": t.netns, "podIP": t.pod_ip, "containerPid": t.container_pid,
                   "execConfig": t.exec_config, "cgroupProcs": list(t.cgroup_procs)},
        "timeout": float(req.timeout),
        "ports": dict(req.ports),
        "purpose": req.purpose,
    }, separators=(",", ":")).encode()


def decode_request(data: bytes) -> Request:
    msg = _object(data)
    t = _field(msg, "target", dict)
    netns = t.get("netns")
    if netns is not None and not isinstance(netns, str):
        raise WireError("target.netns: must be a string or null")
    procs = _field(t, "cgroupProcs", list)
    if not all(isinstance(p, str) for p in procs):
        raise WireError("target.cgroupProcs: must be a list of strings")
    target = Target(netns=netns, pod_ip=_field(t, "podIP", str), container_pid=_field(t, "containerPid", int),
                    exec_config=_field(t, "execConfig", str), cgroup_procs=tuple(procs))
    ports = _field(msg, "ports", dict)
    if not all(isinstance(k, str) and _is_int(v) for k, v in ports.items()):
        raise WireError("ports: must map names to numbers")
    timeout = _field(msg, "timeout", (int, float))
    purpose = _field(msg, "purpose", str)
    if purpose not in PURPOSES:
        raise WireError(f"purpose: must be 'probe' or 'lifecycle', not {purpose!r}")
    return Request(id=_field(msg, "id", int), handler=_decode_handler(_field(msg, "handler", dict)), target=target,
                   timeout=float(timeout), ports=dict(ports), purpose=purpose)


def _encode_handler(h: Handler) -> dict[str, Any]:
    if isinstance(h, ExecAction):
        return {"exec": {"command": list(h.command)}}
    if isinstance(h, HTTPGetAction):
        return {"httpGet": {"port": h.port, "path": h.path, "host": h.host, "scheme": h.scheme,
                            "httpHeaders": [{"name": x.name, "value": x.value} for x in h.http_headers]}}
    if isinstance(h, TCPSocketAction):
        return {"tcpSocket": {"port": h.port, "host": h.host}}
    if isinstance(h, GRPCAction):
        return {"grpc": {"port": h.port, "service": h.service}}
    raise WireError(f"unsupported handler {type(h).__name__}")


def _decode_handler(h: dict[str, Any]) -> Handler:
    if len(h) != 1:
        raise WireError("handler: must have exactly one of exec, httpGet, tcpSocket, grpc")
    kind, body = next(iter(h.items()))
    if not isinstance(body, dict):
        raise WireError(f"handler.{kind}: must be an object")
    if kind == "exec":
        command = _field(body, "command", list)
        if not all(isinstance(a, str) for a in command):
            raise WireError("handler.exec.command: must be a list of strings")
        return ExecAction(command=tuple(command))
    if kind == "httpGet":
        headers = []
        for x in _field(body, "httpHeaders", list):
            if not isinstance(x, dict):
                raise WireError("handler.httpGet.httpHeaders: must be a list of objects")
            headers.append(HTTPHeader(name=_field(x, "name", str), value=_field(x, "value", str)))
        return HTTPGetAction(port=_port(body), path=_field(body, "path", str), host=_field(body, "host", str),
                             scheme=_field(body, "scheme", str), http_headers=tuple(headers))
    if kind == "tcpSocket":
        return TCPSocketAction(port=_port(body), host=_field(body, "host", str))
    if kind == "grpc":
        return GRPCAction(port=_field(body, "port", int), service=_field(body, "service", str))
    raise WireError(f"handler: unknown kind {kind!r}")


def _port(body: dict[str, Any]) -> int | str:
    port = body.get("port")
    if isinstance(port, str) or _is_int(port):
        return port  # type: ignore[return-value]
    raise WireError("port: must be a number or a name")


# --- replies ----------------------------------------------------------------------------------------------
def encode_ready(pid: int) -> bytes:
    return json.dumps({"ready": pid}).encode()


def encode_started(req_id: int, pid: int) -> bytes:
    return json.dumps({"id": req_id, "pid": pid}).encode()


def encode_ended(req_id: int, status: int | None) -> bytes:
    return json.dumps({"id": req_id, "status": status}).encode()


def decode_reply(data: bytes) -> Reply:
    msg = _object(data)
    if "ready" in msg:
        return Reply(ready=_field(msg, "ready", int))
    req_id = _field(msg, "id", int)
    if "pid" in msg:
        return Reply(id=req_id, pid=_field(msg, "pid", int))
    if "status" in msg:
        status = msg["status"]
        if status is not None and not _is_int(status):
            raise WireError("status: must be a number or null")
        return Reply(id=req_id, status=status, ended=True)
    raise WireError("a reply must carry ready, pid or status")


# --- helpers ----------------------------------------------------------------------------------------------
def _object(data: bytes) -> dict[str, Any]:
    try:
        msg = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise WireError(f"not JSON: {e}") from None
    if not isinstance(msg, dict):
        raise WireError("a message must be a JSON object")
    return msg


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    ok = _is_int(value) if kind is int else isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        raise WireError(f"{name}: missing or of the wrong type")
    return value
