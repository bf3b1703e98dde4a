"""Cross-field rules of a decoded Pod, as a list of named checks (runc's validator shape).

Single-field rules (types, enums, names, ranges) are already enforced by the decoder; these checks see a
Pod whose required fields may be zero placeholders (an error was already reported) and skip those.
Each check yields FieldErrors; validate_pod runs them all.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Iterator

from pyrunc.errors import FieldError
from pyrunc.spec import names as name_rules
from pyrunc.spec.model import (
    MAX_FQDN, POD_LEVEL_RESOURCES, Container, DownwardAPIVolumeFile, HTTPGetAction, KeyToPath, LabelSelector,
    LabelSelectorRequirement, Lifecycle, NodeSelectorRequirement, NodeSelectorTerm, ObjectFieldSelector, Pod,
    PodAffinity, PodAffinityTerm, PodSecurityContext, Probe, ResourceFieldSelector,
    SeccompProfile, SecurityContext, TCPSocketAction, VolumeProjection, aggregate_requests, is_sidecar, pod_hostname,
)
from pyrunc.spec.objects import data_key

Errors = Iterator[FieldError]

_SELECTOR_KEY = r"\['[^']*'\]"
_VOLUME_FIELD_PATHS = re.compile(
    rf"metadata\.(name|namespace|uid|labels|annotations)|metadata\.(labels|annotations){_SELECTOR_KEY}")
_ENV_FIELD_PATHS = re.compile(
    rf"metadata\.(name|namespace|uid)|metadata\.(labels|annotations){_SELECTOR_KEY}"
    r"|spec\.(nodeName|serviceAccountName)|status\.(hostIP|hostIPs|podIP|podIPs)")
_RESOURCE_FIELDS = re.compile(r"(limits|requests)\.(cpu|memory|ephemeral-storage|hugepages-.+)")
_RT_SIGNAL = re.compile(r"SIGRTMIN\+\d+|SIGRTMAX-\d+")


def _all_containers(pod: Pod) -> Iterator[tuple[str, Container, bool]]:
    """(path, container, is_init) for init containers then app containers."""
    for i, c in enumerate(pod.spec.init_containers):
        yield f"spec.initContainers[{i}]", c, True
    for i, c in enumerate(pod.spec.containers):
        yield f"spec.containers[{i}]", c, False


def _one_of(path: str, what: str, present: list[object]) -> Errors:
    count = sum(1 for p in present if p is not None)
    if count == 0:
        yield FieldError(path, f"must specify a {what} type")
    elif count > 1:
        yield FieldError(path, f"may not specify more than 1 {what} type")


def check_container_names(pod: Pod) -> Errors:
    seen: set[str] = set()
    for path, c, _ in _all_containers(pod):
        if c.name and c.name in seen:
            yield FieldError(f"{path}.name", f'Duplicate value: "{c.name}"')
        seen.add(c.name)


def check_volumes(pod: Pod) -> Errors:
    seen: set[str] = set()
    names = {c.name for _, c, _ in _all_containers(pod)}
    for i, v in enumerate(pod.spec.volumes):
        path = f"spec.volumes[{i}]"
        if v.name and v.name in seen:
            yield FieldError(f"{path}.name", f'Duplicate value: "{v.name}"')
        seen.add(v.name)
        yield from _one_of(path, "volume", [v.empty_dir, v.host_path, v.downward_api, v.config_map, v.secret,
                                            v.projected])
        if v.downward_api is not None:
            yield from _downward_items(f"{path}.downwardAPI", v.downward_api.items, names, set())
        if v.config_map is not None:
            yield from _required_name(f"{path}.configMap.name", v.config_map.name)
            yield from _key_items(f"{path}.configMap", v.config_map.items, set())
        if v.secret is not None:
            yield from _required_name(f"{path}.secret.secretName", v.secret.secret_name)
            yield from _key_items(f"{path}.secret", v.secret.items, set())
        if v.projected is not None:
            yield from _projected(f"{path}.projected", v.projected.sources, names)


def _required_name(path: str, name: str) -> Errors:
    if not name:
        yield FieldError(path, "Required value")
    else:
        problem = name_rules.dns1123_subdomain(name)
        if problem:
            yield FieldError(path, problem)


def _item_path(path: str, value: str, paths: set[str]) -> Errors:
    """validateVolumeSourcePath: relative, no '..' element (names.relative_path, checked when decoding),
    not starting with '..' (the atomic writer's own `..data` entries), unique within the volume."""
    if value.startswith("..") and not value.startswith("../"):  # "../x" is already a '..' element
        yield FieldError(path, f'Invalid value: "{value}": must not start with \'..\'')
    if value in paths:
        yield FieldError(path, f'Invalid value: "{value}": conflicting duplicate paths')
    paths.add(value)


def _key_items(path: str, items: tuple[KeyToPath, ...], paths: set[str]) -> Errors:
    for j, item in enumerate(items):
        item_path = f"{path}.items[{j}]"
        if item.key:
            problem = data_key(item.key)
            if problem:
                yield FieldError(f"{item_path}.key", problem)
        if item.path:
            yield from _item_path(f"{item_path}.path", item.path, paths)


def _downward_items(path: str, items: tuple[DownwardAPIVolumeFile, ...], names: set[str], paths: set[str]) -> Errors:
    for j, item in enumerate(items):
        item_path = f"{path}.items[{j}]"
        if item.path:
            yield from _item_path(f"{item_path}.path", item.path, paths)
        yield from _one_of(item_path, "downward API source", [item.field_ref, item.resource_field_ref])
        if item.field_ref:
            yield from _field_ref(f"{item_path}.fieldRef", item.field_ref, _VOLUME_FIELD_PATHS)
        if item.resource_field_ref:
            ref = item.resource_field_ref
            if not ref.container_name:
                yield FieldError(f"{item_path}.resourceFieldRef.containerName", "Required value")
            yield from _resource_ref(f"{item_path}.resourceFieldRef", ref, names)


def _projected(path: str, sources: tuple[VolumeProjection, ...], names: set[str]) -> Errors:
    """validateProjectedVolumeSource: one source per projection, paths unique across all of them."""
    paths: set[str] = set()
    for k, src in enumerate(sources):
        src_path = f"{path}.sources[{k}]"
        cm, secret, dapi = src.config_map, src.secret, src.downward_api
        given = [x for x in (cm, secret, dapi) if x is not None]
        if len(given) > 1:
            yield FieldError(src_path, "may not specify more than 1 volume type per source")
        if cm is not None:
            yield from _required_name(f"{src_path}.configMap.name", cm.name)
            yield from _key_items(f"{src_path}.configMap", cm.items, paths)
        if secret is not None:
            yield from _required_name(f"{src_path}.secret.name", secret.name)
            yield from _key_items(f"{src_path}.secret", secret.items, paths)
        if dapi is not None:
            yield from _downward_items(f"{src_path}.downwardAPI", dapi.items, names, paths)


def _field_ref(path: str, ref: ObjectFieldSelector, allowed: re.Pattern[str]) -> Errors:
    if ref.api_version != "v1":
        yield FieldError(f"{path}.apiVersion", f'Unsupported value: "{ref.api_version}": supported values: "v1"')
    if ref.field_path and not allowed.fullmatch(ref.field_path):
        yield FieldError(f"{path}.fieldPath", f'Unsupported value: "{ref.field_path}"')


def _resource_ref(path: str, ref: ResourceFieldSelector, containers: set[str]) -> Errors:
    if ref.resource and not _RESOURCE_FIELDS.fullmatch(ref.resource):
        yield FieldError(f"{path}.resource", f'Unsupported value: "{ref.resource}": supported values: '
                         '"limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", '
                         '"requests.memory", "requests.ephemeral-storage"')
    if ref.container_name and ref.container_name not in containers:
        yield FieldError(f"{path}.containerName", f'Not found: "{ref.container_name}"')
    if ref.divisor is not None and ref.divisor.amount <= 0:
        yield FieldError(f"{path}.divisor", f'Invalid value: "{ref.divisor}": must be greater than 0')


def check_volume_mounts(pod: Pod) -> Errors:
    volumes = {v.name for v in pod.spec.volumes}
    for path, c, _ in _all_containers(pod):
        paths: set[str] = set()
        for i, m in enumerate(c.volume_mounts):
            mount = f"{path}.volumeMounts[{i}]"
            if m.name and m.name not in volumes:
                yield FieldError(f"{mount}.name", f'Not found: "{m.name}"')
            if m.mount_path in paths:
                yield FieldError(f"{mount}.mountPath", f'Invalid value: "{m.mount_path}": must be unique')
            paths.add(m.mount_path)


def check_env(pod: Pod) -> Errors:
    names = {c.name for _, c, _ in _all_containers(pod)}
    for path, c, _ in _all_containers(pod):
        for i, e in enumerate(c.env):
            if e.value_from is None:
                continue
            src = f"{path}.env[{i}].valueFrom"
            vf = e.value_from
            if e.value:
                yield FieldError(src, "may not be specified when `value` is not empty")
            yield from _one_of(src, "valueFrom source", [vf.field_ref, vf.resource_field_ref, vf.config_map_key_ref,
                                                         vf.secret_key_ref])
            if vf.field_ref:
                yield from _field_ref(f"{src}.fieldRef", vf.field_ref, _ENV_FIELD_PATHS)
            if vf.resource_field_ref:
                yield from _resource_ref(f"{src}.resourceFieldRef", vf.resource_field_ref, names)
            for key, ref in (("configMapKeyRef", vf.config_map_key_ref), ("secretKeyRef", vf.secret_key_ref)):
                if ref is not None:
                    yield from _required_name(f"{src}.{key}.name", ref.name)
                    problem = data_key(ref.key) if ref.key else None
                    if problem:
                        yield FieldError(f"{src}.{key}.key", problem)
        for i, ef in enumerate(c.env_from):
            src = f"{path}.envFrom[{i}]"
            if ef.prefix:
                problem = name_rules.env_var_name(ef.prefix)
                if problem:
                    yield FieldError(f"{src}.prefix", problem)
            if ef.config_map_ref is not None and ef.secret_ref is not None:
                yield FieldError(src, "may not have more than one field specified at a time")
            elif ef.config_map_ref is None and ef.secret_ref is None:
                yield FieldError(src, "must specify one of: `configMapRef` or `secretRef`")
            if ef.config_map_ref is not None:
                yield from _required_name(f"{src}.configMapRef.name", ef.config_map_ref.name)
            if ef.secret_ref is not None:
                yield from _required_name(f"{src}.secretRef.name", ef.secret_ref.name)


def _overcommit_allowed(name: str) -> bool:
    """IsOvercommitAllowed: a native resource (no domain, or a kubernetes.io one) other than hugepages."""
    native = "/" not in name or "kubernetes.io/" in name
    return native and not name.startswith("hugepages-")


def _extended(name: str) -> bool:
    """IsExtendedResourceName: domain-qualified outside kubernetes.io, not a quota name."""
    return not _overcommit_allowed(name) and not name.startswith(("hugepages-", "requests."))


def check_resources(pod: Pod) -> Errors:
    """validateContainerResourceRequirements: extended resources are whole numbers; a resource that cannot
    be overcommitted (extended, hugepages) needs a limit, and a request equal to it; any other request is
    at most its limit. The paths are the API server's (`resources.requests`, not the resource's key)."""
    for path, c, _ in _all_containers(pod):
        for kind, values in (("limits", c.resources.limits), ("requests", c.resources.requests)):
            for name, value in sorted(values.items()):
                if _extended(name) and value.amount.denominator != 1:
                    yield FieldError(f"{path}.resources.{kind}[{name}]", f'Invalid value: "{value}": must be an integer')
        for name, request in sorted(c.resources.requests.items()):
            limit = c.resources.limits.get(name)
            if limit is None:
                if not _overcommit_allowed(name):
                    yield FieldError(f"{path}.resources.limits",
                                     "Required value: Limit must be set for non overcommitable resources")
            elif request.amount != limit.amount and not _overcommit_allowed(name):
                yield FieldError(f"{path}.resources.requests",
                                 f'Invalid value: "{request}": must be equal to {name} limit of {limit}')
            elif request.amount > limit.amount:
                yield FieldError(f"{path}.resources.requests",
                                 f'Invalid value: "{request}": must be less than or equal to {name} limit of {limit}')


def check_ports(pod: Pod) -> Errors:
    for path, c, _ in _all_containers(pod):
        seen: set[str] = set()
        for i, p in enumerate(c.ports):
            port = f"{path}.ports[{i}]"
            if p.name and p.name in seen:
                yield FieldError(f"{port}.name", f'Duplicate value: "{p.name}"')
            seen.add(p.name)
            # Kubernetes rule: with the host's network there is no port mapping, so the two must agree.
            if pod.spec.host_network and p.host_port and p.host_port != p.container_port:
                yield FieldError(f"{port}.hostPort",
                                 f"Invalid value: {p.host_port}: must match `containerPort` when `hostNetwork` is true")


def _named_port(path: str, action: HTTPGetAction | TCPSocketAction | None, c: Container) -> Errors:
    if action is not None and isinstance(action.port, str) and action.port:
        if action.port not in {p.name for p in c.ports}:
            yield FieldError(f"{path}.port", f'Invalid value: "{action.port}": must be the name of a port of this container')


def _probe(path: str, probe: Probe, c: Container, kind: str) -> Errors:
    yield from _one_of(path, "handler", [probe.exec, probe.http_get, probe.tcp_socket, probe.grpc])
    yield from _named_port(f"{path}.httpGet", probe.http_get, c)
    yield from _named_port(f"{path}.tcpSocket", probe.tcp_socket, c)
    if kind != "readiness" and probe.success_threshold != 1:
        yield FieldError(f"{path}.successThreshold", f"Invalid value: {probe.success_threshold}: must be 1")
    if kind == "readiness" and probe.termination_grace_period_seconds is not None:
        yield FieldError(f"{path}.terminationGracePeriodSeconds", "Invalid value: must not be set for readinessProbes")


def check_probes(pod: Pod) -> Errors:
    for path, c, _ in _all_containers(pod):
        for kind, probe in (("liveness", c.liveness_probe), ("readiness", c.readiness_probe),
                            ("startup", c.startup_probe)):
            if probe is not None:
                yield from _probe(f"{path}.{kind}Probe", probe, c, kind)


def _stop_signal(path: str, lifecycle: Lifecycle) -> Errors:
    name = lifecycle.stop_signal
    if name and name not in signal.Signals.__members__ and not _RT_SIGNAL.fullmatch(name):
        yield FieldError(f"{path}.stopSignal", f'Unsupported value: "{name}": must be a signal name such as "SIGTERM"')


def check_lifecycle(pod: Pod) -> Errors:
    for path, c, _ in _all_containers(pod):
        if c.lifecycle is None:
            continue
        yield from _stop_signal(f"{path}.lifecycle", c.lifecycle)
        for hook, handler in (("postStart", c.lifecycle.post_start), ("preStop", c.lifecycle.pre_stop)):
            if handler is not None:
                hook_path = f"{path}.lifecycle.{hook}"
                yield from _one_of(hook_path, "handler", [handler.exec, handler.http_get, handler.sleep])
                yield from _named_port(f"{hook_path}.httpGet", handler.http_get, c)


def check_init_containers(pod: Pod) -> Errors:
    for path, c, is_init in _all_containers(pod):
        if c.restart_policy not in (None, "Always"):
            yield FieldError(f"{path}.restartPolicy", f'Unsupported value: "{c.restart_policy}": not supported by pyrunc '
                             '(per-container restart policies, the alpha ContainerRestartRules feature); '
                             'supported values: "Always" on init containers')
            continue
        if not is_init:
            if c.restart_policy is not None:
                yield FieldError(f"{path}.restartPolicy", "Forbidden: may not be set for non-init containers")
            continue
        if is_sidecar(c):
            continue
        # Kubernetes rule: a run-to-completion init container has no hooks or probes; sidecars may.
        for key, value in (("lifecycle", c.lifecycle), ("livenessProbe", c.liveness_probe),
                           ("readinessProbe", c.readiness_probe), ("startupProbe", c.startup_probe)):
            if value is not None:
                yield FieldError(f"{path}.{key}",
                                 "Forbidden: may not be set for init containers without restartPolicy=Always")


def check_dns(pod: Pod) -> Errors:
    if pod.spec.dns_policy != "None":
        return
    if pod.spec.dns_config is None:
        yield FieldError("spec.dnsConfig", "Required value: must provide `dnsConfig` when `dnsPolicy` is None")
    elif not pod.spec.dns_config.nameservers:
        yield FieldError("spec.dnsConfig.nameservers",
                         "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None")


def check_sysctls(pod: Pod) -> Errors:
    """The API server's validateSysctls: valid and unique names, none of a namespace shared with the host."""
    from pyrunc.runtime import sysctls

    psc = pod.spec.security_context
    seen: set[str] = set()
    for i, s in enumerate(psc.sysctls if psc is not None else ()):
        path = f"spec.securityContext.sysctls[{i}].name"
        if not s.name:
            yield FieldError(path, "Required value")
            continue
        if not sysctls.valid_name(s.name):
            yield FieldError(path, f'Invalid value: "{s.name}": must have at most {sysctls.MAX_LENGTH} characters '
                             f"and match regex {sysctls.NAME_REGEX}")
            continue
        if s.name in seen:
            yield FieldError(path, f'Duplicate value: "{s.name}"')
        seen.add(s.name)
        ns = sysctls.namespace_of(s.name)
        if ns == sysctls.NET and pod.spec.host_network:
            yield FieldError(path, f'Invalid value: "{s.name}": may not be specified when \'hostNetwork\' is true')
        elif ns == sysctls.IPC and pod.spec.host_ipc:
            yield FieldError(path, f'Invalid value: "{s.name}": may not be specified when \'hostIPC\' is true')


_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_NO_APPARMOR = 'pyrunc does not support AppArmor profiles (only "Unconfined" is accepted)'


def _seccomp_profile(path: str, profile: SeccompProfile | None) -> Errors:
    """The API server's rules for a seccompProfile (validateSeccompProfileField)."""
    if profile is None:
        return
    name = profile.localhost_profile
    if profile.type == "Localhost":
        if not name:
            yield FieldError(f"{path}.localhostProfile", "Required value: must be set when seccomp type is Localhost")
        elif name.startswith("/"):
            yield FieldError(f"{path}.localhostProfile", f'Invalid value: "{name}": must be a relative path')
        elif ".." in name.split("/"):
            yield FieldError(f"{path}.localhostProfile", f'Invalid value: "{name}": must not contain \'..\'')
    elif name:
        yield FieldError(f"{path}.localhostProfile",
                         f'Invalid value: "{name}": can only be set when seccomp type is Localhost')


def _unsupported_lsm(path: str, sc: SecurityContext | PodSecurityContext) -> Errors:
    if sc.app_armor_profile is not None and sc.app_armor_profile.type != "Unconfined":
        yield FieldError(f"{path}.appArmorProfile.type", f'Unsupported value: "{sc.app_armor_profile.type}": {_NO_APPARMOR}')
    lsm = sc.se_linux_options
    if lsm is not None and (lsm.user or lsm.role or lsm.type or lsm.level):
        yield FieldError(f"{path}.seLinuxOptions", "Forbidden: pyrunc does not support SELinux labels")


def check_security_context(pod: Pod) -> Errors:
    """Capability names, allowPrivilegeEscalation against privileged, seccomp, AppArmor, SELinux."""
    from pyrunc.security.caps import canonical

    psc = pod.spec.security_context
    yield from _seccomp_profile("spec.securityContext.seccompProfile", psc.seccomp_profile)
    yield from _unsupported_lsm("spec.securityContext", psc)
    for key, value in pod.metadata.annotations.items():
        if key.startswith(_APPARMOR_ANNOTATION) and value != "unconfined":
            yield FieldError(f"metadata.annotations[{key}]", f'Unsupported value: "{value}": {_NO_APPARMOR}')
    for path, c, _ in _all_containers(pod):
        sc = c.security_context
        if sc is None:
            continue
        scp = f"{path}.securityContext"
        added: list[str] = []
        if sc.capabilities is not None:
            for kind, names in (("add", sc.capabilities.add), ("drop", sc.capabilities.drop)):
                for i, name in enumerate(names):
                    full = canonical(name)
                    if full is None:
                        yield FieldError(f"{scp}.capabilities.{kind}[{i}]",
                                         f'Unsupported value: "{name}": not a Linux capability (or "ALL")')
                    elif kind == "add":
                        added.append(full)
        if sc.allow_privilege_escalation is False:
            # API validation (ValidateSecurityContext): no_new_privs cannot hold for these.
            if sc.privileged:
                yield FieldError(scp, "Invalid value: cannot set `allowPrivilegeEscalation` to false and `privileged` to true")
            if "CAP_SYS_ADMIN" in added:
                yield FieldError(scp, "Invalid value: cannot set `allowPrivilegeEscalation` to false and "
                                      "`capabilities.Add` CAP_SYS_ADMIN")
        yield from _seccomp_profile(f"{scp}.seccompProfile", sc.seccomp_profile)
        yield from _unsupported_lsm(scp, sc)


def check_proc_mount(pod: Pod) -> Errors:
    """The API server's rule: an unmasked /proc only for a pod in its own user namespace. pyrunc has
    no user namespaces, so `hostUsers: false` is refused rather than silently run in the host's one
    (its containers' root would be the host's root, with an unmasked /proc)."""
    if pod.spec.host_users is False:
        yield FieldError("spec.hostUsers", "Unsupported value: false: pyrunc does not support user namespaces")
        return
    for path, c, _ in _all_containers(pod):
        if c.security_context is not None and c.security_context.proc_mount == "Unmasked":
            yield FieldError(f"{path}.securityContext.procMount",
                             'Invalid value: "Unmasked": `hostUsers` must be false to use `Unmasked`')


def _selector_requirement(path: str, req: NodeSelectorRequirement, field: bool) -> Errors:
    """ValidateNodeSelectorRequirement / ValidateNodeFieldSelectorRequirement of the API server."""
    if not req.key or not req.operator:
        return  # already reported as Required
    if field:
        if req.key != "metadata.name":
            yield FieldError(f"{path}.key", f'Invalid value: "{req.key}": not a valid field selector key')
        elif req.operator not in ("In", "NotIn"):
            yield FieldError(f"{path}.operator", f'Invalid value: "{req.operator}": not a valid selector operator')
        elif len(req.values) != 1:
            yield FieldError(f"{path}.values",
                             "Required value: must be only one value when `operator` is 'In' or 'NotIn' for node field selector")
        return
    if req.operator not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
        yield FieldError(f"{path}.operator", f'Invalid value: "{req.operator}": not a valid selector operator')
    elif req.operator in ("In", "NotIn") and not req.values:
        yield FieldError(f"{path}.values", "Required value: must be specified when `operator` is 'In' or 'NotIn'")
    elif req.operator in ("Exists", "DoesNotExist") and req.values:
        yield FieldError(f"{path}.values",
                         "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    elif req.operator in ("Gt", "Lt") and len(req.values) != 1:
        yield FieldError(f"{path}.values",
                         "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'")
    problem = name_rules.qualified_name(req.key)  # after the operator's errors, in the API server's order
    if problem:
        yield FieldError(f"{path}.key", problem)


def _selector_term(path: str, term: NodeSelectorTerm) -> Errors:
    for i, req in enumerate(term.match_expressions):
        yield from _selector_requirement(f"{path}.matchExpressions[{i}]", req, field=False)
    for i, req in enumerate(term.match_fields):
        yield from _selector_requirement(f"{path}.matchFields[{i}]", req, field=True)


def check_node_affinity(pod: Pod) -> Errors:
    affinity = pod.spec.affinity
    node = affinity.node_affinity if affinity is not None else None
    if node is None:
        return
    base = "spec.affinity.nodeAffinity"
    required = node.required_during_scheduling_ignored_during_execution
    if required is not None:
        path = f"{base}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
        if not required.node_selector_terms:
            yield FieldError(path, "Required value: must have at least one node selector term")
        for i, term in enumerate(required.node_selector_terms):
            yield from _selector_term(f"{path}[{i}]", term)
    for i, pref in enumerate(node.preferred_during_scheduling_ignored_during_execution):
        path = f"{base}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
        if not 1 <= pref.weight <= 100:
            yield FieldError(f"{path}.weight", f"Invalid value: {pref.weight}: must be in the range 1-100")
        yield from _selector_term(f"{path}.preference", pref.preference)


def _label_name(path: str, key: str) -> Errors:
    """ValidateLabelName: IsQualifiedName's messages ("name part must be non-empty" first for "")."""
    if not key:
        yield FieldError(path, 'Invalid value: "": name part must be non-empty')
    problem = name_rules.qualified_name(key)
    if problem:
        yield FieldError(path, problem)


def _label_selector(path: str, selector: LabelSelector | None) -> Errors:
    """metav1 ValidateLabelSelector: matchLabels (keys and values, at the matchLabels path itself), then
    each expression: its operator and values, its key, each value."""
    if selector is None:
        return
    for key, value in sorted(selector.match_labels.items()):  # a Go map: any order; sorted here
        yield from _label_name(f"{path}.matchLabels", key)
        problem = name_rules.label_value(value)
        if problem:
            yield FieldError(f"{path}.matchLabels", problem)
    for i, req in enumerate(selector.match_expressions):
        yield from _selector_expression(f"{path}.matchExpressions[{i}]", req)


def _selector_expression(path: str, req: LabelSelectorRequirement) -> Errors:
    if req.operator in ("In", "NotIn"):
        if not req.values:
            yield FieldError(f"{path}.values", "Required value: must be specified when `operator` is 'In' or 'NotIn'")
    elif req.operator in ("Exists", "DoesNotExist"):
        if req.values:
            yield FieldError(f"{path}.values",
                             "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    elif req.operator:  # an empty one was reported as Required by the decoder
        yield FieldError(f"{path}.operator", f'Invalid value: "{req.operator}": not a valid selector operator')
    if req.key:
        yield from _label_name(f"{path}.key", req.key)
    for j, value in enumerate(req.values):
        problem = name_rules.label_value(value)
        if problem:
            yield FieldError(f"{path}.values[{j}]", problem)


def _label_keys(path: str, keys: tuple[str, ...], selector: LabelSelector | None) -> Errors:
    if not keys:
        return
    if selector is None:
        yield FieldError(path, "Forbidden: must not be specified when labelSelector is not set")
        return
    for i, key in enumerate(keys):
        yield from _label_name(f"{path}[{i}]", key)


def _pod_affinity_term(path: str, term: PodAffinityTerm, pod_labels: dict[str, str]) -> Errors:
    """validatePodAffinityTerm of the API server, in its order."""
    yield from _label_selector(f"{path}.labelSelector", term.label_selector)
    yield from _label_selector(f"{path}.namespaceSelector", term.namespace_selector)
    for name in term.namespaces:
        problem = name_rules.dns1123_label(name)
        if problem:
            yield FieldError(f"{path}.namespace", problem)  # sic: the API server's path is singular
    yield from _label_keys(f"{path}.matchLabelKeys", term.match_label_keys, term.label_selector)
    yield from _label_keys(f"{path}.mismatchLabelKeys", term.mismatch_label_keys, term.label_selector)
    selector = term.label_selector
    if selector is not None and term.match_label_keys:
        # The API server validates after merging the keys the pod's labels have into the selector
        # (key In [value], key NotIn [value]): a matchLabelKeys key the selector already names then
        # shows up twice. Its path is the term's, indexed by the key's position (sic).
        index = {key: i for i, key in enumerate(term.match_label_keys)}
        merged = [r.key for r in selector.match_expressions]
        merged += [k for k in (*term.match_label_keys, *term.mismatch_label_keys) if k in pod_labels]
        seen = set(selector.match_labels)
        for key in merged:
            if key in index and key in seen:
                yield FieldError(f"{path}[{index[key]}]", f'Invalid value: "{key}": exists in both matchLabelKeys '
                                                          "and labelSelector")
            seen.add(key)
    mismatch = set(term.mismatch_label_keys)
    for i, key in enumerate(term.match_label_keys):
        if key in mismatch:
            yield FieldError(f"{path}.matchLabelKeys[{i}]",
                             f'Invalid value: "{key}": exists in both matchLabelKeys and mismatchLabelKeys')
    if not term.topology_key:
        yield FieldError(f"{path}.topologyKey", "Required value: can not be empty")
    yield from _label_name(f"{path}.topologyKey", term.topology_key)


def _pod_affinity(path: str, affinity: PodAffinity | None, pod_labels: dict[str, str]) -> Errors:
    if affinity is None:
        return
    required = f"{path}.requiredDuringSchedulingIgnoredDuringExecution"
    for i, term in enumerate(affinity.required_during_scheduling_ignored_during_execution):
        yield from _pod_affinity_term(f"{required}[{i}]", term, pod_labels)
    preferred = f"{path}.preferredDuringSchedulingIgnoredDuringExecution"
    for i, weighted in enumerate(affinity.preferred_during_scheduling_ignored_during_execution):
        if not 1 <= weighted.weight <= 100:
            yield FieldError(f"{preferred}[{i}].weight", f"Invalid value: {weighted.weight}: must be in the range 1-100")
        yield from _pod_affinity_term(f"{preferred}[{i}].podAffinityTerm", weighted.pod_affinity_term, pod_labels)


def check_pod_affinity(pod: Pod) -> Errors:
    affinity = pod.spec.affinity
    if affinity is None:
        return
    yield from _pod_affinity("spec.affinity.podAffinity", affinity.pod_affinity, pod.metadata.labels)
    yield from _pod_affinity("spec.affinity.podAntiAffinity", affinity.pod_anti_affinity, pod.metadata.labels)


def check_pod_resources(pod: Pod) -> Errors:
    """validatePodResources: cpu, memory and hugepages only; requests within limits; the containers'
    aggregate request within the pod's request and each container limit within the pod's limit."""
    res = pod.spec.resources
    if res is None:
        return
    path = "spec.resources"
    if pod.spec.os is not None and pod.spec.os.name == "windows":
        yield FieldError(path, "Forbidden: may not be set for a windows pod")
    supported = ", ".join(f'"{n}"' for n in sorted((*POD_LEVEL_RESOURCES, "hugepages-")))
    for kind, values in (("limits", res.limits), ("requests", res.requests)):
        for name in values:
            if name not in POD_LEVEL_RESOURCES and not name.startswith("hugepages-"):
                yield FieldError(f"{path}.{kind}[{name}]", f'Unsupported value: "{name}": supported values: {supported}')
    for name, request in res.requests.items():
        limit = res.limits.get(name)
        if limit is None:
            continue
        if request.amount > limit.amount:
            yield FieldError(f"{path}.requests", f'Invalid value: "{request}": must be less than or equal to {name} limit of {limit}')
    aggregate = aggregate_requests(pod.spec.containers, pod.spec.init_containers)
    for name, total in sorted(aggregate.items()):
        pod_request = res.requests.get(name)
        if pod_request is not None and total.amount > pod_request.amount:
            yield FieldError(f"{path}.requests[{name}]",
                             f'Invalid value: "{pod_request}": must be greater than or equal to aggregate container requests of {total}')
    for i, c in enumerate(pod.spec.containers):
        for name, limit in sorted(c.resources.limits.items()):
            pod_limit = res.limits.get(name)
            if pod_limit is not None and limit.amount > pod_limit.amount:
                # The API server's path, built from the pod-level resources path (sic).
                yield FieldError(f"{path}.containers[{i}][{name}].limits",
                                 f'Invalid value: "{limit}": must be less than or equal to pod limits of {pod_limit}')


def check_recursive_read_only(pod: Pod) -> Errors:
    for path, c, _ in _all_containers(pod):
        for i, m in enumerate(c.volume_mounts):
            if not m.recursive_read_only or m.recursive_read_only == "Disabled":
                continue
            where = f"{path}.volumeMounts[{i}].recursiveReadOnly"
            if not m.read_only:
                yield FieldError(where, "Forbidden: may only be specified when readOnly is true")
            elif m.mount_propagation not in ("", "None"):
                yield FieldError(where, "Forbidden: may only be specified when mountPropagation is None or not specified")
            elif m.recursive_read_only == "Enabled":
                yield FieldError(where, 'Unsupported value: "Enabled": not supported by pyrunc '
                                        '(read-only mounts are not recursive; "IfPossible" is accepted)')


def check_node_fit(pod: Pod) -> Errors:
    """Fields a real cluster accepts that ask for something this node is not: another OS, another runtime,
    a hostname the kubelet cannot set."""
    spec = pod.spec
    if spec.os is not None and spec.os.name == "windows":
        yield FieldError("spec.os.name", 'Unsupported value: "windows": pyrunc runs Linux pods only')
    if spec.runtime_class_name:
        yield FieldError("spec.runtimeClassName", f'Unsupported value: "{spec.runtime_class_name}": not supported by '
                         "pyrunc (one runtime, no RuntimeClass objects)")
    if spec.set_hostname_as_fqdn and not spec.host_network:
        fqdn = pod_hostname(pod)
        if len(fqdn) > MAX_FQDN:
            # The kubelet's message (GeneratePodHostNameAndDomain); it fails the sandbox, pyrunc refuses up front.
            yield FieldError("spec.setHostnameAsFQDN", f"failed to construct FQDN from pod hostname and cluster domain, "
                             f"FQDN {fqdn} is too long ({MAX_FQDN} characters is the max, {len(fqdn)} characters requested)")


CHECKS: tuple[Callable[[Pod], Errors], ...] = (
    check_container_names, check_volumes, check_volume_mounts, check_env, check_resources, check_ports,
    check_probes, check_lifecycle, check_init_containers, check_dns, check_sysctls, check_security_context,
    check_proc_mount, check_node_affinity, check_pod_affinity, check_pod_resources, check_recursive_read_only,
    check_node_fit,
)


def validate_pod(pod: Pod) -> list[FieldError]:
    """Every cross-field error of ``pod``, in check order."""
    return [error for check in CHECKS for error in check(pod)]
