"""Pod status, derived on every read from the facts on disk (kubelet's getPhase and friends).

Pure except for the `alive(pid, start_time)` predicate it is given; the CLI passes a /proc
check, tests pass a fake. Nothing here trusts a stored "Running": a pid plus its start time
is checked each time, and a dead supervisor turns the phase into Unknown.
"""

from __future__ import annotations

import datetime as dt

from pyrunc.spec.sidecar import sidecar_names

# typing.TYPE_CHECKING without importing typing (~5 ms of `pyrunc get`, cli/lean_get.py); mypy reads any
# name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping

    Alive = Callable[[int, int], bool]


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def backoff_message(delay: float, container: str, pod_name: str, namespace: str, uid: str) -> str:
    return f"back-off {_go_duration(delay)} restarting failed container={container} pod={pod_name}_{namespace}({uid})"


def _go_duration(seconds: float) -> str:
    s = int(round(seconds))
    m, s = divmod(s, 60)
    return f"{m}m{s}s" if m else f"{s}s"


def container_facts(record: Mapping[str, Any] | None, facts: Mapping[str, Any] | None) -> dict[str, Any]:
    """The flat per-container facts the functions below read, from the runtime service's record of the
    latest instance (container.json) and the pod worker's facts (state.json)."""
    r, f = record or {}, facts or {}
    out: dict[str, Any] = {
        "restartCount": int(f.get("restartCount", 0)), "ready": bool(f.get("ready")),
        "started": bool(f.get("started")), "willRestart": bool(f.get("willRestart")),
        "backoffUntil": f.get("backoffUntil", 0), "backoffMessage": f.get("backoffMessage", ""),
        "postStartPending": f.get("postStart") == "running",
    }
    if f.get("lastTerminated"):
        out["lastTerminated"] = _terminated_of(f["lastTerminated"])
    if f.get("waiting"):  # no instance could be created: nothing of an earlier one is shown as current
        out["waiting"] = dict(f["waiting"])
        return out
    if r:
        out.update(pid=int(r.get("pid", 0)), startTime=r.get("startTime", 0), imageID=r.get("imageID", ""),
                   containerID=f"pyrunc://{r['id']}" if r.get("id") else "", cgroupPaths=r.get("cgroupPaths") or {},
                   oomScoreAdj=r.get("oomScoreAdj"))
        if r.get("startedAt"):
            out["startedAt"] = rfc3339(float(r["startedAt"]))
        if r.get("state") in ("EXITED", "UNKNOWN"):
            out["terminated"] = _terminated_of(r)
    return out


def _terminated_of(r: Mapping[str, Any]) -> dict[str, Any]:
    """An exited instance's record as v1 ContainerStateTerminated."""
    return {
        "exitCode": int(r.get("exitCode", 0)), "signal": r.get("signal") or None, "reason": r.get("reason") or None,
        "message": r.get("message") or None,
        "startedAt": rfc3339(float(r["startedAt"])) if r.get("startedAt") else None,
        "finishedAt": rfc3339(float(r["finishedAt"])) if r.get("finishedAt") else None,
        "containerID": f"pyrunc://{r['id']}" if r.get("id") else None,
    }


def container_state(rec: Mapping[str, Any], alive: Alive, now: float, supervised: bool,
                    default_waiting: str = "ContainerCreating") -> dict[str, Any]:
    """The v1 ContainerState of one container from its facts (container_facts: both of its files)."""
    pid = rec.get("pid", 0)
    if pid and alive(pid, rec.get("startTime", 0)):
        if rec.get("postStartPending"):
            return {"waiting": {"reason": "ContainerCreating"}}  # not Running until postStart returns
        return {"running": {"startedAt": rec.get("startedAt", "")}}
    term = rec.get("terminated")
    if pid and not term:
        if supervised:
            # It just ended; the supervisor is recording how (a matter of milliseconds).
            return {"waiting": {"reason": default_waiting}}
        # Gone while no supervisor ran: how it ended cannot be known (the kubelet's words for this).
        return {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                               "message": "The container could not be located when the pod was terminated",
                               "startedAt": rec.get("startedAt", "")}}
    waiting = rec.get("waiting")
    until = rec.get("backoffUntil") or 0
    if term and until > now and rec.get("willRestart"):
        return {"waiting": {"reason": "CrashLoopBackOff", "message": rec.get("backoffMessage", "")}}
    if term and not rec.get("willRestart"):
        return {"terminated": _terminated(term)}
    if waiting:
        return {"waiting": dict(waiting)}
    return {"waiting": {"reason": default_waiting}}


def _terminated(term: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded exit as the API prints it: unset fields omitted, exitCode always there."""
    return {k: v for k, v in term.items() if v not in (None, "")} | {"exitCode": term.get("exitCode", 0)}


def container_status(spec_c: Mapping[str, Any], rec: Mapping[str, Any], alive: Alive, now: float,
                     supervised: bool, image_id: str = "", default_waiting: str = "ContainerCreating") -> dict[str, Any]:
    state = container_state(rec, alive, now, supervised, default_waiting)
    last = rec.get("lastTerminated")
    if "waiting" in state and rec.get("terminated") and rec.get("willRestart"):
        last = rec["terminated"]
    running = "running" in state
    status: dict[str, Any] = {
        "name": spec_c["name"],
        "image": spec_c.get("image", ""),
        "imageID": rec.get("imageID", image_id),
        "ready": bool(running and rec.get("ready", True) and supervised),
        "restartCount": int(rec.get("restartCount", 0)),
        "started": bool(running and rec.get("started", True)),
        "state": state,
        "lastState": {"terminated": _terminated(last)} if last else {},
    }
    if rec.get("containerID"):
        status["containerID"] = rec["containerID"]
    return status


def pod_phase(spec: Mapping[str, Any], init_statuses: list[dict], statuses: list[dict], supervised: bool) -> str:
    """kubelet getPhase: from the containers' states and the restart policy."""
    if not supervised:
        return "Unknown"
    policy = spec.get("restartPolicy", "Always")
    sidecars = sidecar_names(spec)
    for st in init_statuses:
        if st["name"] in sidecars:
            continue
        term = st["state"].get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term and policy == "Never":
            return "Failed"
        return "Pending"
    running = stopped = succeeded = waiting = 0
    for st in statuses:
        state = st["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif st.get("lastState", {}).get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(kind: str, ok: bool, since: str, reason: str = "") -> dict[str, Any]:
    c = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None, "lastTransitionTime": since}
    if reason and not ok:
        c["reason"] = reason
    return c


def pod_status(manifest: Mapping[str, Any], records: Mapping[str, Mapping[str, Any]], sandbox: Mapping[str, Any] | None,
               alive: Alive, now: float, supervised: bool, host_ip: str = "",
               eviction: Mapping[str, Any] | None = None, admission: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The v1 PodStatus of a pod from its manifest, per-container records and sandbox facts.

    `eviction` (reason, message) is the fact that the pod was evicted: like the kubelet's evicted
    pods, it is then Failed whatever its containers say, with the reason and message at pod level."""
    if admission:
        return held_status(manifest, admission)
    spec = manifest["spec"]
    created = manifest["metadata"].get("creationTimestamp", "")
    init_st = [container_status(c, records.get(c["name"], {}), alive, now, supervised) for c in spec.get("initContainers", [])]
    sidecars = sidecar_names(spec)
    initialized = all(
        (st["name"] in sidecars and st["started"]) or st["state"].get("terminated", {}).get("exitCode", 1) == 0
        for st in init_st
    )
    # kubelet: app containers of a pod still initializing wait as PodInitializing.
    waiting = "ContainerCreating" if initialized else "PodInitializing"
    app_st = [container_status(c, records.get(c["name"], {}), alive, now, supervised, default_waiting=waiting)
              for c in spec["containers"]]
    phase = "Failed" if eviction else pod_phase(spec, init_st, app_st, supervised)
    ready = initialized and all(st["ready"] for st in app_st) and all(st["ready"] for st in init_st if st["name"] in sidecars)
    if phase == "Succeeded":
        ready = False
    net = (sandbox or {}).get("network") or {}
    pod_ip = net.get("ip", "") or (host_ip if spec.get("hostNetwork") else "")
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            _condition("PodReadyToStartContainers", sandbox is not None, created),
            _condition("Initialized", initialized, created, "ContainersNotInitialized"),
            _condition("Ready", ready, created, "ContainersNotReady"),
            _condition("ContainersReady", ready, created, "ContainersNotReady"),
            _condition("PodScheduled", True, created),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "qosClass": (sandbox or {}).get("qosClass", "BestEffort"),
        "startTime": created,
        "containerStatuses": app_st,
    }
    if init_st:
        status["initContainerStatuses"] = init_st
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if eviction:
        status["reason"] = eviction.get("reason", "Evicted")
        status["message"] = eviction.get("message", "")
    elif not supervised:
        status["message"] = "pyrunc's supervisor is not running; status is as last recorded"
    return status


def held_status(manifest: Mapping[str, Any], admission: Mapping[str, Any]) -> dict[str, Any]:
    """A pod the node did not admit. Gated: Pending, PodScheduled False (SchedulingGated), as the API shows
    a pod the scheduler leaves alone; unschedulable: the same with reason Unschedulable and the scheduler's
    message. Rejected: the status the kubelet's rejectPod sets (phase Failed, the admission's reason and
    message, no container statuses: none was ever created)."""
    created = manifest["metadata"].get("creationTimestamp", "")
    if "gated" in admission or admission.get("unschedulable"):
        cond = _condition("PodScheduled", False, created, str(admission.get("reason", "")))
        cond["message"] = admission.get("message", "")
        return {"phase": "Pending", "conditions": [cond]}
    return {"phase": "Failed", "conditions": [_condition("PodScheduled", True, created)],
            "reason": admission.get("reason", ""), "message": admission.get("message", "")}


def pick_container(manifest: dict[str, Any], wanted: str | None) -> str | None:
    """The container an exec goes to (kubectl's choice): `wanted` if the pod has it (else None); without one,
    the kubectl.kubernetes.io/default-container annotation's, or the first container."""
    spec = manifest["spec"]
    names = [c["name"] for c in spec["containers"]]
    all_names = [c["name"] for c in spec.get("initContainers", [])] + names
    if wanted is not None:
        return wanted if wanted in all_names else None
    if len(names) > 1:
        default = (manifest["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
        return str(default) if default in all_names else str(names[0])
    return str(names[0])
