"""``kubectl describe pod``: the same lines kubectl's describePod writes, aligned by a tabwriter.

Each section writes tab-separated text through ``_Writer`` (kubectl's PrefixWriter: two spaces
per level); ``tabwrite`` then aligns it exactly as kubectl's tabbedString does.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pyrunc.cgroups.plan import PodLevelResources, pod_level_qos, qos_class, resources_of_v1
from pyrunc.printers.quantity import parse_quantity
from pyrunc.printers.tabwriter import DESCRIBE_MINWIDTH, DESCRIBE_PADDING, tabwrite
from pyrunc.printers.timefmt import parse_time, rfc1123z, since
from pyrunc.spec.downward import object_field_v1

# describe.go: longer annotations are printed on their own lines and cut.
_MAX_ANNOTATION_LEN = 140
_SKIPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
_PROBE_KINDS = (("livenessProbe", "Liveness"), ("readinessProbe", "Readiness"), ("startupProbe", "Startup"))

Pod = dict[str, Any]


class _Writer:
    """kubectl's PrefixWriter: ``write(level, text)`` indents by two spaces per level."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.parts: list[str] = []

    def write(self, level: int, text: str) -> None:
        self.parts.append("  " * level + text)

    def text(self) -> str:
        return tabwrite("".join(self.parts), minwidth=DESCRIBE_MINWIDTH, padding=DESCRIBE_PADDING)


def describe_pod(
    pod: Pod, events: list[dict[str, Any]], now: datetime, extra: dict[str, list[tuple[str, str]]] | None = None
) -> str:
    """The text of ``kubectl describe pod``; ``extra`` sections go just before Events."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    w = _Writer(now)
    _header(w, meta, spec, status)
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], status.get("initContainerStatuses"), pod)
    _containers(w, "Containers", spec.get("containers") or [], status.get("containerStatuses"), pod)
    _conditions(w, spec, status)
    _volumes(w, spec.get("volumes") or [])
    w.write(0, f"QoS Class:\t{status.get('qosClass') or _qos_class(spec)}\n")
    _labels(w, "Node-Selectors", spec.get("nodeSelector") or {})
    _tolerations(w, spec.get("tolerations") or [])
    for title, items in (extra or {}).items():
        if not items:
            w.write(0, f"{title}:\t<none>\n")
            continue
        w.write(0, f"{title}:\n")
        for key, value in items:
            w.write(1, f"{key}:\t{value}\n")
    _events(w, events)
    return w.text()


def _header(w: _Writer, meta: dict[str, Any], spec: dict[str, Any], status: dict[str, Any]) -> None:
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    if spec.get("priority") is not None:
        w.write(0, f"Priority:\t{spec['priority']}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    if spec.get("runtimeClassName"):
        w.write(0, f"Runtime Class Name:\t{spec['runtimeClassName']}\n")
    if spec.get("serviceAccountName"):
        w.write(0, f"Service Account:\t{spec['serviceAccountName']}\n")
    node = spec.get("nodeName")
    w.write(0, f"Node:\t{node}/{status.get('hostIP', '')}\n" if node else "Node:\t<none>\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{rfc1123z(status['startTime'], w.now)}\n")
    _labels(w, "Labels", meta.get("labels") or {})
    _annotations(w, meta.get("annotations") or {})
    phase = status.get("phase", "")
    if meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        lasts = since(parse_time(meta["deletionTimestamp"]), w.now)
        grace = meta.get("deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds", 0))
        w.write(0, f"Status:\tTerminating (lasts {lasts})\n")
        w.write(0, f"Termination Grace Period:\t{grace}s\n")
    else:
        w.write(0, f"Status:\t{phase}\n")
    if status.get("reason"):
        w.write(0, f"Reason:\t{status['reason']}\n")
    if status.get("message"):
        w.write(0, f"Message:\t{status['message']}\n")
    seccomp = (spec.get("securityContext") or {}).get("seccompProfile")
    if seccomp:
        w.write(0, f"SeccompProfile:\t{seccomp.get('type', '')}\n")
        if seccomp.get("type") == "Localhost":
            w.write(0, f"LocalhostProfile:\t{seccomp.get('localhostProfile', '')}\n")
    w.write(0, f"IP:\t{status.get('podIP', '')}\n")
    pod_ips = status.get("podIPs") or []
    if not pod_ips:
        w.write(0, "IPs:\t<none>\n")
    else:
        w.write(0, "IPs:\n")
        for entry in pod_ips:
            w.write(1, f"IP:\t{entry.get('ip', '')}\n")
    for owner in meta.get("ownerReferences") or []:
        if owner.get("controller"):
            w.write(0, f"Controlled By:\t{owner.get('kind', '')}/{owner.get('name', '')}\n")
            break
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{status['nominatedNodeName']}\n")


def _labels(w: _Writer, title: str, labels: dict[str, str]) -> None:
    """printLabelsMultiline: sorted ``key=value``, one per line, continuation lines aligned."""
    if not labels:
        w.write(0, f"{title}:\t<none>\n")
        return
    for i, key in enumerate(sorted(labels)):
        w.write(0, (f"{title}:\t" if i == 0 else "\t") + f"{key}={labels[key]}\n")


def _annotations(w: _Writer, annotations: dict[str, str]) -> None:
    """printAnnotationsMultiline: ``key: value``; long or multi-line values on their own lines."""
    keys = sorted(k for k in annotations if k not in _SKIPPED_ANNOTATIONS)
    if not keys:
        w.write(0, "Annotations:\t<none>\n")
        return
    for i, key in enumerate(keys):
        lead = "Annotations:\t" if i == 0 else "\t"
        value = str(annotations[key]).removesuffix("\n")
        if len(value) + len(key) + 2 > _MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{lead}{key}:\n")
            for line in value.split("\n"):
                cut = line if len(line) <= _MAX_ANNOTATION_LEN - 2 else line[: _MAX_ANNOTATION_LEN - 2] + "..."
                w.write(0, f"\t  {cut}\n")
        else:
            w.write(0, f"{lead}{key}: {value}\n")


def _containers(w: _Writer, label: str, containers: list[dict[str, Any]], statuses: Any, pod: Pod) -> None:
    by_name = {s.get("name"): s for s in statuses or []}
    w.write(0, f"{label}:{'' if containers else ' <none>'}\n")
    for container in containers:
        status = by_name.get(container.get("name"))
        w.write(1, f"{container.get('name', '')}:\n")
        if status is not None:
            w.write(2, f"Container ID:\t{status.get('containerID', '')}\n")
        w.write(2, f"Image:\t{container.get('image', '')}\n")
        if status is not None:
            w.write(2, f"Image ID:\t{status.get('imageID', '')}\n")
        _ports(w, container.get("ports") or [])
        for key, title in (("command", "Command"), ("args", "Args")):
            if container.get(key):
                w.write(2, f"{title}:\n")
                for item in container[key]:
                    for line in str(item).split("\n"):
                        w.write(3, f"{line}\n")
        if status is not None:
            _state(w, "State", status.get("state") or {})
            if (status.get("lastState") or {}).get("terminated") is not None:
                _state(w, "Last State", status["lastState"])
            w.write(2, f"Ready:\t{'True' if status.get('ready') else 'False'}\n")
            w.write(2, f"Restart Count:\t{status.get('restartCount', 0)}\n")
        _resources(w, container.get("resources") or {})
        for key, title in _PROBE_KINDS:
            if container.get(key):
                w.write(2, f"{title}:\t{describe_probe(container[key])}\n")
        if container.get("envFrom"):
            _env_from(w, container["envFrom"])
        _env(w, container, pod)
        _mounts(w, container)


def _ports(w: _Writer, ports: list[dict[str, Any]]) -> None:
    for key, singular, plural in (("containerPort", "Port", "Ports"), ("hostPort", "Host Port", "Host Ports")):
        text = ", ".join(f"{p.get(key, 0)}/{p.get('protocol', 'TCP')}" for p in ports)
        if "," in text:
            w.write(2, f"{plural}:\t{text}\n")
        else:
            w.write(2, f"{singular}:\t{text or '<none>'}\n")


def _state(w: _Writer, title: str, state: dict[str, Any]) -> None:
    """describeStatus: one container state with its details one level deeper."""
    if state.get("running") is not None:
        w.write(2, f"{title}:\tRunning\n")
        w.write(3, f"Started:\t{rfc1123z(state['running'].get('startedAt'), w.now)}\n")
    elif state.get("terminated") is not None:
        term = state["terminated"]
        w.write(2, f"{title}:\tTerminated\n")
        if term.get("reason"):
            w.write(3, f"Reason:\t{term['reason']}\n")
        if term.get("message"):
            w.write(3, f"Message:\t{term['message']}\n")
        w.write(3, f"Exit Code:\t{term.get('exitCode', 0)}\n")
        if int(term.get("signal") or 0) > 0:
            w.write(3, f"Signal:\t{term['signal']}\n")
        w.write(3, f"Started:\t{rfc1123z(term.get('startedAt'), w.now)}\n")
        w.write(3, f"Finished:\t{rfc1123z(term.get('finishedAt'), w.now)}\n")
    else:
        w.write(2, f"{title}:\tWaiting\n")
        reason = (state.get("waiting") or {}).get("reason")
        if reason:
            w.write(3, f"Reason:\t{reason}\n")


def _resources(w: _Writer, resources: dict[str, Any]) -> None:
    for key, title in (("limits", "Limits"), ("requests", "Requests")):
        values = resources.get(key) or {}
        if values:
            w.write(2, f"{title}:\n")
        for name in sorted(values):
            w.write(3, f"{name}:\t{values[name]}\n")


def describe_probe(probe: dict[str, Any]) -> str:
    """kubectl DescribeProbe: ``http-get http://:8080/healthz delay=0s timeout=1s period=10s ...``."""
    attrs = (
        f"delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
        f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
        f"#failure={probe.get('failureThreshold', 3)}"
    )
    if probe.get("exec") is not None:
        return f"exec [{' '.join(str(c) for c in probe['exec'].get('command') or [])}] {attrs}"
    if probe.get("httpGet") is not None:
        return f"http-get {_probe_url(probe['httpGet'])} {attrs}"
    if probe.get("tcpSocket") is not None:
        tcp = probe["tcpSocket"]
        return f"tcp-socket {tcp.get('host', '')}:{tcp.get('port', '')} {attrs}"
    if probe.get("grpc") is not None:
        grpc = probe["grpc"]
        return f"grpc <pod>:{grpc.get('port', '')} {grpc.get('service', '')} {attrs}"
    return f"unknown {attrs}"


def _probe_url(http: dict[str, Any]) -> str:
    """Go's url.URL{Scheme, Host: JoinHostPort(host, port), Path}.String()."""
    from urllib.parse import quote

    host, port = str(http.get("host", "")), str(http.get("port", ""))
    if ":" in host:  # net.JoinHostPort brackets IPv6 literals
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    path = quote(str(http.get("path", "")), safe="/$&+,:;=@")
    if path and not path.startswith("/") and netloc:
        path = "/" + path
    scheme = str(http.get("scheme", "HTTP")).lower()
    prefix = f"{scheme}:" if scheme else ""
    return f"{prefix}//{netloc}{path}" if (netloc or path) else prefix


def _env_from(w: _Writer, sources: list[dict[str, Any]]) -> None:
    w.write(2, "Environment Variables from:\n")
    for source in sources:
        kind, ref = ("ConfigMap", source["configMapRef"]) if source.get("configMapRef") else ("Secret", source.get("secretRef") or {})
        optional = "true" if ref.get("optional") else "false"
        prefix = f" with prefix '{source['prefix']}'" if source.get("prefix") else ""
        w.write(3, f"{ref.get('name', '')}\t{kind}{prefix}\tOptional: {optional}\n")


def _env(w: _Writer, container: dict[str, Any], pod: Pod) -> None:
    env = container.get("env") or []
    w.write(2, "Environment:\t<none>\n" if not env else "Environment:\n")
    for var in env:
        name, source = var.get("name", ""), var.get("valueFrom")
        if source is None:
            for i, line in enumerate(str(var.get("value", "")).split("\n")):
                w.write(3, f"{name}:\t{line}\n" if i == 0 else f"\t{line}\n")
        elif source.get("fieldRef") is not None:
            ref = source["fieldRef"]
            value = object_field_v1(pod, str(ref.get("fieldPath", "")))
            w.write(3, f"{name}:\t{value} ({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath', '')})\n")
        elif source.get("resourceFieldRef") is not None:
            ref = source["resourceFieldRef"]
            resource = str(ref.get("resource", ""))
            value = _resource_value(container, ref)
            if value == "0" and resource in ("limits.cpu", "limits.memory"):
                value = "node allocatable"
            w.write(3, f"{name}:\t{value} ({resource})\n")
        elif source.get("secretKeyRef") is not None or source.get("configMapKeyRef") is not None:
            ref = source.get("secretKeyRef") or source["configMapKeyRef"]
            where = "in secret" if source.get("secretKeyRef") is not None else "of config map"
            optional = "true" if ref.get("optional") else "false"
            w.write(3, f"{name}:\t<set to the key '{ref.get('key', '')}' {where} '{ref.get('name', '')}'>\tOptional: {optional}\n")


def _resource_value(container: dict[str, Any], ref: dict[str, Any]) -> str:
    """resourcehelper.ExtractContainerResourceValue: the container's value over the divisor, rounded up."""
    kind, _, name = str(ref.get("resource", "")).partition(".")
    value = parse_quantity(((container.get("resources") or {}).get(kind) or {}).get(name, 0)) or 0
    divisor = parse_quantity(ref.get("divisor", "1")) or 1
    return str(math.ceil(value / divisor))


def _mounts(w: _Writer, container: dict[str, Any]) -> None:
    mounts = container.get("volumeMounts") or []
    w.write(2, "Mounts:\t<none>\n" if not mounts else "Mounts:\n")
    for mount in sorted(mounts, key=lambda m: str(m.get("mountPath", ""))):
        flags = ["ro" if mount.get("readOnly") else "rw"]
        if mount.get("subPath"):
            flags.append(f'path="{mount["subPath"]}"')
        w.write(3, f"{mount.get('mountPath', '')} from {mount.get('name', '')} ({','.join(flags)})\n")


def _conditions(w: _Writer, spec: dict[str, Any], status: dict[str, Any]) -> None:
    conditions = status.get("conditions") or []
    gates = spec.get("readinessGates") or []
    if gates:
        w.write(0, "Readiness Gates:\n  Type\tStatus\n")
        for gate in gates:
            found = next((c for c in conditions if c.get("type") == gate.get("conditionType")), None)
            w.write(1, f"{gate.get('conditionType', '')} \t{found.get('status', '') if found else '<none>'} \n")
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for cond in conditions:
            w.write(1, f"{cond.get('type', '')} \t{cond.get('status', '')} \n")


def _volumes(w: _Writer, volumes: list[dict[str, Any]]) -> None:
    if not volumes:
        w.write(0, "Volumes:\t<none>\n")
        return
    w.write(0, "Volumes:\n")
    for volume in volumes:
        w.write(1, f"{volume.get('name', '')}:\n")
        w.write(2, _volume_source(volume))


def _volume_source(volume: dict[str, Any]) -> str:
    """The block kubectl prints under a volume's name (continuation lines carry their own indent)."""
    if volume.get("hostPath") is not None:
        src = volume["hostPath"]
        return (
            "Type:\tHostPath (bare host directory volume)\n"
            f"    Path:\t{src.get('path', '')}\n    HostPathType:\t{'<none>' if src.get('type') is None else src['type']}\n"
        )
    if volume.get("emptyDir") is not None:
        src = volume["emptyDir"]
        size = src.get("sizeLimit")
        limit = size if size is not None and (parse_quantity(size) or 0) > 0 else "<unset>"
        return (
            "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"
            f"    Medium:\t{src.get('medium', '')}\n    SizeLimit:\t{limit}\n"
        )
    if volume.get("configMap") is not None:
        src = volume["configMap"]
        optional = "true" if src.get("optional") else "false"
        return f"Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{src.get('name', '')}\n    Optional:\t{optional}\n"
    if volume.get("secret") is not None:
        src = volume["secret"]
        optional = "true" if src.get("optional") else "false"
        return f"Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{src.get('secretName', '')}\n    Optional:\t{optional}\n"
    if volume.get("downwardAPI") is not None:
        lines = ["Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n"]
        for item in volume["downwardAPI"].get("items") or []:
            if item.get("fieldRef") is not None:
                lines.append(f"      {item['fieldRef'].get('fieldPath', '')} -> {item.get('path', '')}\n")
            if item.get("resourceFieldRef") is not None:
                lines.append(f"      {item['resourceFieldRef'].get('resource', '')} -> {item.get('path', '')}\n")
        return "".join(lines)
    if volume.get("projected") is not None:
        # kubectl's printProjectedVolumeSource; an unset optional prints as Go's nil pointer.
        lines = ["Type:\tProjected (a volume that contains injected data from multiple sources)\n"]
        for source in volume["projected"].get("sources") or []:
            for key, label in (("secret", "Secret"), ("configMap", "ConfigMap")):
                if source.get(key) is not None:
                    opt = source[key].get("optional")
                    shown = "<nil>" if opt is None else str(bool(opt)).lower()
                    extra = "OptionalName" if key == "secret" else "Optional"
                    lines.append(f"    {label}Name:\t{source[key].get('name', '')}\n    {label}{extra}:\t{shown}\n")
            if source.get("downwardAPI") is not None:
                lines.append("    DownwardAPI:\ttrue\n")
        return "".join(lines)
    return "<unknown>\n"


def _qos_class(spec: dict[str, Any]) -> str:
    """GetPodQOS (cgroups/plan.py qos_class, the one the cgroups follow), used only when status.qosClass is missing."""
    if isinstance(spec.get("resources"), dict):  # pod-level resources decide alone (KEP 2837)
        pod = resources_of_v1({"resources": spec["resources"]})
        return pod_level_qos(PodLevelResources(pod.cpu_request_milli, pod.cpu_limit_milli, pod.memory_request,
                                               pod.memory_limit))
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    return qos_class([resources_of_v1(c) for c in containers])


def _tolerations(w: _Writer, tolerations: list[dict[str, Any]]) -> None:
    if not tolerations:
        w.write(0, "Tolerations:\t<none>\n")
        return
    for i, tol in enumerate(sorted(tolerations, key=lambda t: str(t.get("key", "")))):
        text = str(tol.get("key", ""))
        if tol.get("value"):
            text += f"={tol['value']}"
        if tol.get("effect"):
            text += f":{tol['effect']}"
        if tol.get("operator") == "Exists" and not tol.get("value"):
            text += " op=Exists" if tol.get("key") or tol.get("effect") else "op=Exists"
        if tol.get("tolerationSeconds") is not None:
            text += f" for {tol['tolerationSeconds']}s"
        w.write(0, ("Tolerations:\t" if i == 0 else "\t") + text + "\n")


def _events(w: _Writer, events: list[dict[str, Any]]) -> None:
    """DescribeEvents: oldest last-seen first; Age is ``12s`` or ``3m (x4 over 10m)``."""
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")

    def last_seen(event: dict[str, Any]) -> float:
        when = parse_time(event.get("lastTimestamp")) or parse_time(event.get("eventTime"))
        return when.timestamp() if when else float("-inf")

    for event in sorted(events, key=last_seen):
        first = since(parse_time(event.get("eventTime")) or parse_time(event.get("firstTimestamp")), w.now)
        series = event.get("series")
        count = int(event.get("count") or 0)
        if series:
            last = since(parse_time(series.get("lastObservedTime")), w.now)
            interval = f"{last} (x{series.get('count', 0)} over {first})"
        elif count > 1:
            interval = f"{since(parse_time(event.get('lastTimestamp')), w.now)} (x{count} over {first})"
        else:
            interval = first
        source = (event.get("source") or {}).get("component") or event.get("reportingComponent", "")
        message = str(event.get("message", "")).strip()
        w.write(1, f"{event.get('type', '')}\t{event.get('reason', '')}\t{interval}\t{source}\t{message}\n")
