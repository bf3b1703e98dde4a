"""STATUS / READY / RESTARTS, the get-pods table and describe, from small v1 Pod dict builders."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from pyrunc.printers import describe_pod, no_resources, pod_status_column, pods_table, ready_column, restarts_column
from pyrunc.printers.describe import describe_probe

NOW = datetime(2026, 11, 22, 0, 12, 0, tzinfo=timezone.utc)
T0 = "2026-11-22T00:11:30Z"  # 30s before NOW
Dict = dict[str, Any]


def running() -> Dict:
    return {"running": {"startedAt": T0}}


def waiting(reason: str) -> Dict:
    return {"waiting": {"reason": reason, "message": ""}}


def terminated(code: int, reason: str = "", signal: int = 0, finished: str = T0) -> Dict:
    state: Dict = {"exitCode": code, "reason": reason, "startedAt": T0, "finishedAt": finished}
    if signal:
        state["signal"] = signal
    return {"terminated": state}


def cs(name: str, state: Dict, *, ready: bool = False, restarts: int = 0, last: Dict | None = None,
       started: bool | None = None) -> Dict:  # fmt: skip
    status = {"name": name, "image": "busybox", "imageID": "sha256:1", "containerID": f"pyrunc://{name}",
              "ready": ready, "restartCount": restarts, "state": state, "lastState": last or {}}  # fmt: skip
    status["started"] = ("running" in state) if started is None else started
    return status


def pod(statuses: list[Dict], *, init: list[Dict] = (), sidecars: tuple[str, ...] = (), phase: str = "Running",
        conditions: Dict | None = None, name: str = "web", namespace: str = "default", **status_extra: Any) -> Dict:  # fmt: skip
    init_specs = [{"name": s["name"], "image": "busybox"} for s in init]
    for spec in init_specs:
        if spec["name"] in sidecars:
            spec["restartPolicy"] = "Always"
    conds = conditions if conditions is not None else {"Initialized": "True", "Ready": "True"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": "uid-" + name, "creationTimestamp": T0},
        "spec": {"containers": [{"name": s["name"], "image": "busybox"} for s in statuses], "initContainers": init_specs},
        "status": {
            "phase": phase,
            "conditions": [{"type": t, "status": v} for t, v in conds.items()],
            "initContainerStatuses": list(init),
            "containerStatuses": statuses,
            **status_extra,
        },
    }


def deleting(p: Dict) -> Dict:
    p["metadata"]["deletionTimestamp"] = "2026-11-22T00:11:50Z"
    p["metadata"]["deletionGracePeriodSeconds"] = 30
    return p


NOT_INIT = {"Initialized": "False", "Ready": "False"}

STATUS_CASES = [
    ("running", pod([cs("a", running(), ready=True)]), "Running", "1/1"),
    ("crashloop", pod([cs("a", waiting("CrashLoopBackOff"))]), "CrashLoopBackOff", "0/1"),
    ("completed", pod([cs("a", terminated(0, "Completed"))], phase="Succeeded"), "Completed", "0/1"),
    ("error", pod([cs("a", terminated(1, "Error"))], phase="Failed"), "Error", "0/1"),
    ("oomkilled", pod([cs("a", terminated(137, "OOMKilled"))], phase="Failed"), "OOMKilled", "0/1"),
    ("exitcode", pod([cs("a", terminated(3))], phase="Failed"), "ExitCode:3", "0/1"),
    ("signal", pod([cs("a", terminated(137, signal=9))], phase="Failed"), "Signal:9", "0/1"),
    ("creating", pod([cs("a", waiting("ContainerCreating"))], phase="Pending"), "ContainerCreating", "0/1"),
    ("last-container-wins", pod([cs("a", waiting("ErrImagePull")), cs("b", running(), ready=True)]), "ErrImagePull", "1/2"),
    ("init-0-of-2", pod([cs("a", waiting("PodInitializing"))], phase="Pending", conditions=NOT_INIT,
                        init=[cs("i1", running()), cs("i2", waiting("PodInitializing"))]), "Init:0/2", "0/1"),  # fmt: skip
    ("init-1-of-2", pod([cs("a", waiting("PodInitializing"))], phase="Pending", conditions=NOT_INIT,
                        init=[cs("i1", terminated(0, "Completed")), cs("i2", running())]), "Init:1/2", "0/1"),  # fmt: skip
    ("init-error", pod([cs("a", waiting("PodInitializing"))], phase="Pending", conditions=NOT_INIT,
                       init=[cs("i1", terminated(1, "Error")), cs("i2", waiting("PodInitializing"))]), "Init:Error", "0/1"),  # fmt: skip
    ("init-crashloop", pod([cs("a", waiting("PodInitializing"))], phase="Pending", conditions=NOT_INIT,
                           init=[cs("i1", waiting("CrashLoopBackOff"))]), "Init:CrashLoopBackOff", "0/1"),  # fmt: skip
    ("init-exitcode", pod([cs("a", waiting("PodInitializing"))], phase="Pending", conditions=NOT_INIT,
                          init=[cs("i1", terminated(2))]), "Init:ExitCode:2", "0/1"),  # fmt: skip
    ("init-signal", pod([cs("a", waiting("PodInitializing"))], phase="Pending", conditions=NOT_INIT,
                        init=[cs("i1", terminated(143, signal=15))]), "Init:Signal:15", "0/1"),  # fmt: skip
    ("init-oom", pod([cs("a", waiting("PodInitializing"))], phase="Failed", conditions=NOT_INIT,
                     init=[cs("i1", terminated(137, "OOMKilled"))]), "Init:OOMKilled", "0/1"),  # fmt: skip
    ("pod-initializing", pod([cs("a", waiting("PodInitializing"))], phase="Pending",
                             conditions={"Initialized": "True", "Ready": "False"},
                             init=[cs("i1", terminated(0, "Completed"))]), "PodInitializing", "0/1"),  # fmt: skip
    ("not-ready", pod([cs("a", terminated(0, "Completed")), cs("b", running(), ready=True)],
                      conditions={"Initialized": "True", "Ready": "False"}), "NotReady", "1/2"),  # fmt: skip
    ("completed-but-running", pod([cs("a", running(), ready=True), cs("b", terminated(0, "Completed"))]),
     "Running", "1/2"),  # fmt: skip
    ("terminating", deleting(pod([cs("a", running(), ready=True)])), "Terminating", "1/1"),
    ("deleted-after-success", deleting(pod([cs("a", terminated(0, "Completed"))], phase="Succeeded")), "Completed", "0/1"),
    ("node-lost", deleting(pod([cs("a", running(), ready=True)], reason="NodeLost")), "Unknown", "1/1"),
    ("unknown-phase", pod([], phase="Unknown", conditions={}), "Unknown", "0/0"),
    ("status-reason", pod([cs("a", running(), ready=True)], phase="Failed", reason="Evicted"), "Evicted", "1/1"),
    ("sidecar-started", pod([cs("a", running(), ready=True)], sidecars=("log",),
                            init=[cs("log", running(), ready=True, started=True), cs("mig", terminated(0, "Completed"))]),
     "Running", "2/2"),  # fmt: skip
    ("sidecar-not-ready", pod([cs("a", running(), ready=True)], sidecars=("log",),
                              init=[cs("log", running(), ready=False, started=True)]), "Running", "1/2"),  # fmt: skip
    ("sidecar-not-started", pod([cs("a", waiting("PodInitializing"))], sidecars=("log",), phase="Pending",
                                conditions=NOT_INIT, init=[cs("log", running(), started=False), cs("mig", waiting("PodInitializing"))]),
     "Init:0/2", "0/2"),  # fmt: skip
]


@pytest.mark.parametrize(("case", "p", "status", "ready"), STATUS_CASES, ids=[c[0] for c in STATUS_CASES])
def test_status_and_ready_columns(case: str, p: Dict, status: str, ready: str) -> None:
    assert pod_status_column(p) == status
    assert ready_column(p) == ready


def test_restarts_plain_and_with_ago() -> None:
    assert restarts_column(pod([cs("a", running(), ready=True)]), NOW) == "0"
    crashed = terminated(1, "Error", finished="2026-11-22T00:11:48Z")
    p = pod([cs("a", running(), ready=True, restarts=3, last=crashed), cs("b", running(), restarts=1,
            last=terminated(1, "Error", finished="2026-11-22T00:05:00Z"))])  # fmt: skip
    assert restarts_column(p, NOW) == "4 (12s ago)"  # the latest finish across containers
    # Restarts recorded without a last termination state: no "(ago)".
    assert restarts_column(pod([cs("a", running(), restarts=2)]), NOW) == "2"


def test_restarts_count_init_containers_only_while_initializing() -> None:
    init_crash = cs("i1", waiting("CrashLoopBackOff"), restarts=4, last=terminated(1, "Error", finished="2026-11-22T00:11:00Z"))
    initializing = pod([cs("a", waiting("PodInitializing"), restarts=0)], init=[init_crash], conditions=NOT_INIT)
    assert restarts_column(initializing, NOW) == "4 (60s ago)"
    done = cs("i1", terminated(0, "Completed"), restarts=4, last=terminated(1, "Error", finished="2026-11-22T00:11:00Z"))
    initialized = pod([cs("a", running(), ready=True, restarts=1, last=terminated(1, "Error", finished="2026-11-22T00:11:50Z"))],
                      init=[done])  # fmt: skip
    assert restarts_column(initialized, NOW) == "1 (10s ago)"
    sidecar = cs("log", running(), ready=True, started=True, restarts=2, last=terminated(1, "Error", finished="2026-11-22T00:10:00Z"))
    with_sidecar = pod([cs("a", running(), ready=True)], init=[sidecar], sidecars=("log",))
    assert restarts_column(with_sidecar, NOW) == "2 (2m ago)"


def test_pods_table_default_layout_sorted_by_name() -> None:
    b = pod([cs("a", waiting("CrashLoopBackOff"), restarts=3, last=terminated(1, "Error", finished="2026-11-22T00:11:48Z"))],
            name="zeta")  # fmt: skip
    a = pod([cs("a", running(), ready=True)], name="nginx")
    assert pods_table([b, a], NOW) == (
        "NAME    READY   STATUS             RESTARTS      AGE\n"
        "nginx   1/1     Running            0             30s\n"
        "zeta    0/1     CrashLoopBackOff   3 (12s ago)   30s\n"
    )
    assert pods_table([b, a], NOW, no_headers=True).splitlines()[0].startswith("nginx   1/1")


def test_pods_table_wide_and_all_namespaces() -> None:
    a = pod([cs("a", running(), ready=True)], name="web", namespace="prod", podIPs=[{"ip": "10.88.0.5"}])
    a["spec"]["nodeName"] = "node1"
    a["spec"]["readinessGates"] = [{"conditionType": "example.com/gate"}]
    b = pod([cs("a", waiting("ContainerCreating"))], name="db", namespace="default", phase="Pending")
    assert pods_table([a, b], NOW, wide=True, all_namespaces=True) == (
        "NAMESPACE   NAME   READY   STATUS              RESTARTS   AGE   IP          NODE     NOMINATED NODE   READINESS GATES\n"
        "default     db     0/1     ContainerCreating   0          30s   <none>      <none>   <none>           <none>\n"
        "prod        web    1/1     Running             0          30s   10.88.0.5   node1    <none>           0/1\n"
    )


def test_empty_list() -> None:
    assert pods_table([], NOW) == ""
    assert no_resources("default") == "No resources found in default namespace."
    assert no_resources(None) == "No resources found"


def two_container_pod() -> Dict:
    p = pod([cs("web", running(), ready=True),
             cs("worker", waiting("CrashLoopBackOff"), restarts=2, last=terminated(1, "Error", finished="2026-11-22T00:11:48Z"))],
            conditions={"Initialized": "True", "Ready": "False", "ContainersReady": "False", "PodScheduled": "True"},
            hostIP="10.0.0.1", podIP="10.88.0.7", podIPs=[{"ip": "10.88.0.7"}], startTime=T0, qosClass="Burstable")  # fmt: skip
    p["metadata"]["labels"] = {"app": "web", "tier": "fe"}
    p["spec"].update(nodeName="node1", priority=0, serviceAccountName="default",
                     volumes=[{"name": "cache", "emptyDir": {}}, {"name": "host", "hostPath": {"path": "/srv", "type": ""}}])  # fmt: skip
    web = p["spec"]["containers"][0]
    web.update(
        image="nginx:1.25",
        ports=[{"containerPort": 8080, "protocol": "TCP"}],
        resources={"limits": {"memory": "128Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}},
        readinessProbe={"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "initialDelaySeconds": 0,
                        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},  # fmt: skip
        env=[{"name": "MODE", "value": "prod"},
             {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
             {"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
             {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
             {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],  # fmt: skip
        volumeMounts=[{"name": "host", "mountPath": "/srv", "readOnly": True}, {"name": "cache", "mountPath": "/data"}],
    )
    p["spec"]["containers"][1]["command"] = ["sh", "-c", "exit 1"]
    return p


EVENTS = [
    {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container worker", "count": 4,
     "firstTimestamp": "2026-11-22T00:02:00Z", "lastTimestamp": "2026-11-22T00:11:50Z",
     "source": {"component": "kubelet", "host": "node1"}, "involvedObject": {"kind": "Pod", "name": "web"}},
    {"type": "Normal", "reason": "Started", "message": "Started container web", "count": 1,
     "firstTimestamp": T0, "lastTimestamp": T0, "source": {"component": "kubelet", "host": "node1"},
     "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{web}"}},
]  # fmt: skip


def test_describe_two_container_pod_key_lines() -> None:
    text = describe_pod(two_container_pod(), EVENTS, NOW)
    lines = text.splitlines()
    # The top block is aligned on its widest key, "Service Account:".
    for line in (
        "Name:             web",
        "Namespace:        default",
        "Priority:         0",
        "Service Account:  default",
        "Node:             node1/10.0.0.1",
        "Start Time:       Sun, 22 Nov 2026 00:11:30 +0000",
        "Labels:           app=web",
        "                  tier=fe",
        "Annotations:      <none>",
        "Status:           Running",
        "IP:               10.88.0.7",
        "IPs:",
        "  IP:  10.88.0.7",
        "Containers:",
        "  web:",
        "    Container ID:   pyrunc://web",
        "    Port:           8080/TCP",
        "    Host Port:      0/TCP",
        "    State:          Running",
        "      Started:      Sun, 22 Nov 2026 00:11:30 +0000",
        "    Ready:          True",
        "    Restart Count:  0",
        "      memory:  128Mi",
        "      cpu:      250m",
        "    Readiness:  http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3",
        "      MODE:      prod",
        "      POD_NAME:  web (v1:metadata.name)",
        "      NODE:       (v1:spec.nodeName)",
        "      MEM:       128 (limits.memory)",
        "      CPU:       node allocatable (limits.cpu)",
        "      /data from cache (rw)",
        "      /srv from host (ro)",
        "  worker:",
        "    Command:",
        "      sh",
        "    State:          Waiting",
        "      Reason:       CrashLoopBackOff",
        "    Last State:     Terminated",
        "      Exit Code:    1",
        "      Finished:     Sun, 22 Nov 2026 00:11:48 +0000",
        "    Restart Count:  2",
        "    Environment:    <none>",
        "    Mounts:         <none>",
        "Conditions:",
        "  Type              Status",
        "  ContainersReady   False ",
        "    Type:       EmptyDir (a temporary directory that shares a pod's lifetime)",
        "    Medium:     ",  # kubectl pads the empty value too
        "    SizeLimit:  <unset>",
        "    Type:          HostPath (bare host directory volume)",
        "    HostPathType:  ",  # set but empty (the API default) prints empty; <none> only when absent
        "QoS Class:         Burstable",
        "Tolerations:       <none>",
        "Events:",
        "  Type     Reason   Age                From     Message",
        "  ----     ------   ----               ----     -------",
    ):
        assert line in lines, line
    # Events oldest-last-seen first, repeated ones as "(xN over ...)".
    assert lines[-2] == "  Normal   Started  30s                kubelet  Started container web"
    assert lines[-1] == "  Warning  BackOff  10s (x4 over 10m)  kubelet  Back-off restarting failed container worker"
    assert lines.index("Containers:") < lines.index("Conditions:") < lines.index("Volumes:") < lines.index("Events:")
    assert text.endswith("\n")


def test_describe_init_containers_terminating_and_extra_sections() -> None:
    p = deleting(pod([cs("a", waiting("PodInitializing"))], init=[cs("i1", running())], phase="Pending", conditions=NOT_INIT))
    text = describe_pod(p, [], NOW, {"Cgroup": [("Path", "/sys/fs/cgroup/memory/pyrunc/x"), ("memory.limit_in_bytes", "209715200")]})
    lines = text.splitlines()
    assert "Status:                    Terminating (lasts 10s)" in lines
    assert "Termination Grace Period:  30s" in lines
    assert lines.index("Init Containers:") < lines.index("  i1:") < lines.index("Containers:") < lines.index("  a:")
    # The extra section and "Events:" share one tab block, as any consecutive kubectl lines do.
    assert lines[-4:] == [
        "Cgroup:",
        "  Path:                   /sys/fs/cgroup/memory/pyrunc/x",
        "  memory.limit_in_bytes:  209715200",
        "Events:                   <none>",
    ]
    assert "QoS Class:" in text and "BestEffort" in text  # computed when status.qosClass is absent


def test_describe_annotations_and_tolerations() -> None:
    p = pod([cs("a", running(), ready=True)])
    p["metadata"]["annotations"] = {"b": "two", "a": "one", "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    p["spec"]["tolerations"] = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                                 "tolerationSeconds": 300}, {"operator": "Exists"}]  # fmt: skip
    lines = describe_pod(p, [], NOW).splitlines()
    annotations = lines.index(next(line for line in lines if line.startswith("Annotations:")))
    assert lines[annotations].split() == ["Annotations:", "a:", "one"]
    assert lines[annotations + 1].split() == ["b:", "two"]
    assert any(line.endswith("Tolerations:     op=Exists") for line in lines)
    assert any(line.endswith("node.kubernetes.io/unreachable:NoExecute op=Exists for 300s") for line in lines)


@pytest.mark.parametrize(
    ("probe", "text"),
    [
        ({"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 5},
         "exec [cat /tmp/healthy] delay=0s timeout=1s period=5s #success=1 #failure=3"),
        ({"tcpSocket": {"port": 6379}, "initialDelaySeconds": 15, "failureThreshold": 1},
         "tcp-socket :6379 delay=15s timeout=1s period=10s #success=1 #failure=1"),
        ({"httpGet": {"host": "127.0.0.1", "port": "http", "path": "/", "scheme": "HTTPS"}},
         "http-get https://127.0.0.1:http/ delay=0s timeout=1s period=10s #success=1 #failure=3"),
    ],
)  # fmt: skip
def test_probe_one_liners(probe: Dict, text: str) -> None:
    assert describe_probe(probe) == text
