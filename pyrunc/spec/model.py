"""The v1 Pod model: frozen dataclasses named after the API (snake_case of the JSON names).

``None`` means the field was absent. Defaults are the API server's. The field metadata (``spec_field``)
carries the single-field rules; cross-field rules live in validate.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from pyrunc.spec import names
from pyrunc.spec.quantity import Quantity
from pyrunc.spec.schema import spec_field
from pyrunc.spec.sidecar import restartable

_NOT_SUPPORTED = "not supported by pyrunc"
# Dynamic resource allocation (ResourceClaim objects, a scheduler and DRA drivers): nothing to claim from.
_NO_DRA = "not supported by pyrunc: dynamic resource allocation needs ResourceClaim objects and drivers"
# Fields of the security contexts pyrunc accepts but does not act on (Windows-only).
_SECURITY_RAW = frozenset({"windowsOptions"})
_OTHER_VOLUME_SOURCES = (
    "persistentVolumeClaim", "nfs", "iscsi", "csi", "ephemeral", "image",
    "gitRepo", "glusterfs", "cephfs", "rbd", "awsElasticBlockStore", "gcePersistentDisk", "azureDisk",
    "azureFile", "cinder", "fc", "flexVolume", "flocker", "photonPersistentDisk", "portworxVolume", "quobyte",
    "scaleIO", "storageos", "vsphereVolume",
)


def _image_pull_policy_default(image: str) -> str:
    """Always for ":latest" or no tag (and no digest), else IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    name: str = spec_field(check=names.dns1123_subdomain)
    namespace: str = spec_field("default", check=names.dns1123_label)
    uid: str = ""
    labels: dict[str, str] = spec_field(factory=dict, key_check=names.qualified_name, value_check=names.label_value)
    annotations: dict[str, str] = spec_field(factory=dict, key_check=names.qualified_name)
    creation_timestamp: str = ""
    generate_name: str = ""

    _DROPPED: ClassVar[frozenset[str]] = frozenset({
        "ownerReferences", "finalizers", "resourceVersion", "managedFields", "selfLink", "generation",
        "deletionTimestamp", "deletionGracePeriodSeconds"})


@dataclass(frozen=True, slots=True)
class ObjectFieldSelector:
    field_path: str
    api_version: str = "v1"


@dataclass(frozen=True, slots=True)
class ResourceFieldSelector:
    resource: str
    container_name: str = ""
    divisor: Quantity | None = None


@dataclass(frozen=True, slots=True)
class ConfigMapKeySelector:
    key: str = spec_field("", required=True)
    name: str = ""
    optional: bool | None = None


@dataclass(frozen=True, slots=True)
class SecretKeySelector:
    key: str = spec_field("", required=True)
    name: str = ""
    optional: bool | None = None


@dataclass(frozen=True, slots=True)
class EnvVarSource:
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    config_map_key_ref: ConfigMapKeySelector | None = None
    secret_key_ref: SecretKeySelector | None = None

    _UNSUPPORTED: ClassVar[dict[str, str]] = {"fileKeyRef": _NOT_SUPPORTED}


@dataclass(frozen=True, slots=True)
class ConfigMapEnvSource:
    name: str = ""
    optional: bool | None = None


@dataclass(frozen=True, slots=True)
class SecretEnvSource:
    name: str = ""
    optional: bool | None = None


@dataclass(frozen=True, slots=True)
class EnvFromSource:
    prefix: str = ""
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str = spec_field(check=names.env_var_name)
    value: str = ""
    value_from: EnvVarSource | None = None


@dataclass(frozen=True, slots=True)
class ContainerPort:
    container_port: int = spec_field(check=names.port_number)
    name: str = spec_field("", check=names.iana_svc_name)
    host_port: int = spec_field(0, check=names.host_port_number)
    host_ip: str = spec_field("", json="hostIP")
    protocol: str = spec_field("TCP", enum=("TCP", "UDP", "SCTP"))


@dataclass(frozen=True, slots=True)
class ResourceRequirements:
    limits: dict[str, Quantity] = spec_field(factory=dict, key_check=names.resource_name, value_check=names.non_negative)
    requests: dict[str, Quantity] = spec_field(factory=dict, key_check=names.resource_name, value_check=names.non_negative)

    # claims name entries of spec.resourceClaims, which pyrunc refuses: refused here too.
    _UNSUPPORTED: ClassVar[dict[str, str]] = {"claims": _NO_DRA}

    def __post_init__(self) -> None:
        # API defaulting: a resource with a limit and no request is requested at its limit (this decides QoS).
        missing = {k: v for k, v in self.limits.items() if k not in self.requests}
        if missing:
            object.__setattr__(self, "requests", {**self.requests, **missing})


@dataclass(frozen=True, slots=True)
class VolumeMount:
    name: str
    mount_path: str = spec_field(check=names.absolute_path)
    read_only: bool = False
    sub_path: str = spec_field("", check=names.relative_path)
    mount_propagation: str = spec_field("", enum=("None", "HostToContainer", "Bidirectional"))
    # "Enabled" is refused by validate.py (pyrunc's read-only bind mounts are not recursive);
    # "IfPossible" falls back to a plain read-only mount, as the kubelet does on a runtime without it.
    recursive_read_only: str = spec_field("", enum=("Disabled", "IfPossible", "Enabled"))

    # bindMountOptions: an alpha field (VolumeBindMountOptions) pyrunc does not apply.
    _UNSUPPORTED: ClassVar[dict[str, str]] = {"subPathExpr": _NOT_SUPPORTED, "bindMountOptions": _NOT_SUPPORTED}


@dataclass(frozen=True, slots=True)
class ExecAction:
    command: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HTTPHeader:
    name: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class HTTPGetAction:
    port: int | str = spec_field(check=names.port_number_or_name)
    path: str = "/"
    host: str = ""
    scheme: str = spec_field("HTTP", enum=("HTTP", "HTTPS"))
    http_headers: tuple[HTTPHeader, ...] = ()


@dataclass(frozen=True, slots=True)
class TCPSocketAction:
    port: int | str = spec_field(check=names.port_number_or_name)
    host: str = ""


@dataclass(frozen=True, slots=True)
class GRPCAction:
    port: int = spec_field(check=names.port_number)
    service: str = ""


@dataclass(frozen=True, slots=True)
class SleepAction:
    seconds: int = spec_field(check=names.non_negative)


@dataclass(frozen=True, slots=True)
class Probe:
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int = spec_field(0, check=names.non_negative)
    timeout_seconds: int = spec_field(1, zero_is_default=True, check=names.at_least_one)
    period_seconds: int = spec_field(10, zero_is_default=True, check=names.at_least_one)
    success_threshold: int = spec_field(1, zero_is_default=True, check=names.at_least_one)
    failure_threshold: int = spec_field(3, zero_is_default=True, check=names.at_least_one)
    termination_grace_period_seconds: int | None = spec_field(None, check=names.at_least_one)


@dataclass(frozen=True, slots=True)
class LifecycleHandler:
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    sleep: SleepAction | None = None

    _UNSUPPORTED: ClassVar[dict[str, str]] = {
        "tcpSocket": "not supported: tcpSocket is deprecated as a lifecycle hook handler; use exec, httpGet or sleep"}


@dataclass(frozen=True, slots=True)
class Lifecycle:
    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None
    stop_signal: str = ""


@dataclass(frozen=True, slots=True)
class Capabilities:
    add: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SeccompProfile:
    type: str = spec_field(enum=("RuntimeDefault", "Unconfined", "Localhost"))
    localhost_profile: str = ""


@dataclass(frozen=True, slots=True)
class AppArmorProfile:
    type: str = spec_field(enum=("RuntimeDefault", "Unconfined", "Localhost"))
    localhost_profile: str = ""


@dataclass(frozen=True, slots=True)
class SELinuxOptions:
    user: str = ""
    role: str = ""
    type: str = ""
    level: str = ""


@dataclass(frozen=True, slots=True)
class SecurityContext:
    run_as_user: int | None = spec_field(None, check=names.non_negative)
    run_as_group: int | None = spec_field(None, check=names.non_negative)
    run_as_non_root: bool | None = None
    privileged: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    capabilities: Capabilities | None = None
    proc_mount: str = spec_field("", enum=("Default", "Unmasked"))
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None
    se_linux_options: SELinuxOptions | None = spec_field(None, json="seLinuxOptions")

    _RAW: ClassVar[frozenset[str]] = _SECURITY_RAW
    ignored: dict[str, object] = spec_field(factory=dict)


@dataclass(frozen=True, slots=True)
class Sysctl:
    name: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class PodSecurityContext:
    run_as_user: int | None = spec_field(None, check=names.non_negative)
    run_as_group: int | None = spec_field(None, check=names.non_negative)
    run_as_non_root: bool | None = None
    fs_group: int | None = spec_field(None, check=names.non_negative)
    fs_group_change_policy: str = spec_field("", enum=("OnRootMismatch", "Always"))
    supplemental_groups: tuple[int, ...] = ()
    supplemental_groups_policy: str = spec_field("", enum=("Merge", "Strict"))
    sysctls: tuple[Sysctl, ...] = ()
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None
    se_linux_options: SELinuxOptions | None = spec_field(None, json="seLinuxOptions")

    _RAW: ClassVar[frozenset[str]] = _SECURITY_RAW | {"seLinuxChangePolicy"}
    ignored: dict[str, object] = spec_field(factory=dict)


@dataclass(frozen=True, slots=True)
class Container:
    name: str = spec_field(check=names.dns1123_label)
    image: str = spec_field()
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    working_dir: str = ""
    ports: tuple[ContainerPort, ...] = ()
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[EnvFromSource, ...] = ()
    resources: ResourceRequirements = spec_field(factory=ResourceRequirements)
    volume_mounts: tuple[VolumeMount, ...] = ()
    lifecycle: Lifecycle | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    termination_message_path: str = "/dev/termination-log"
    termination_message_policy: str = spec_field("File", enum=("File", "FallbackToLogsOnError"))
    # "" is filled in by __post_init__ from the image reference, as the API server does.
    image_pull_policy: str = spec_field("", enum=("Always", "IfNotPresent", "Never"))
    security_context: SecurityContext | None = None
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    # Only "Always" (a sidecar) is implemented; the others belong to the alpha ContainerRestartRules
    # feature and are refused by validate.py as not supported (not as unknown values).
    restart_policy: str | None = spec_field(None, enum=("Always", "OnFailure", "Never"))

    # resizePolicy only says what an in-place resize would restart; pyrunc never resizes a running
    # container (a re-apply replaces the pod), so ignoring it changes nothing.
    _RAW: ClassVar[frozenset[str]] = frozenset({"resizePolicy"})
    # volumeDevices name PersistentVolumeClaims (refused as volumes); restartPolicyRules is the alpha
    # ContainerRestartRules feature (per-container restart by exit code), which pyrunc does not implement.
    _UNSUPPORTED: ClassVar[dict[str, str]] = {"volumeDevices": _NOT_SUPPORTED, "restartPolicyRules": _NOT_SUPPORTED}
    ignored: dict[str, object] = spec_field(factory=dict)

    def __post_init__(self) -> None:
        if not self.image_pull_policy:
            object.__setattr__(self, "image_pull_policy", _image_pull_policy_default(self.image))


@dataclass(frozen=True, slots=True)
class EmptyDirVolumeSource:
    medium: str = spec_field("", enum=("Memory", "HugePages"))
    size_limit: Quantity | None = spec_field(None, check=names.non_negative)

    # mode: the alpha EmptyDirVolumeMode field; pyrunc's emptyDirs are always 0777, as without the gate.
    _UNSUPPORTED: ClassVar[dict[str, str]] = {"mode": _NOT_SUPPORTED}


@dataclass(frozen=True, slots=True)
class HostPathVolumeSource:
    path: str = spec_field(check=names.absolute_path)
    # keep: the API server stores the default "" explicitly (a *HostPathType defaulted to HostPathUnset).
    type: str = spec_field("", keep=True, enum=(
        "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"))


@dataclass(frozen=True, slots=True)
class DownwardAPIVolumeFile:
    path: str = spec_field(check=names.relative_path)
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    mode: int | None = spec_field(None, check=names.file_mode)


@dataclass(frozen=True, slots=True)
class DownwardAPIVolumeSource:
    items: tuple[DownwardAPIVolumeFile, ...] = ()
    default_mode: int | None = spec_field(0o644, check=names.file_mode)  # SetDefaults_DownwardAPIVolumeSource


@dataclass(frozen=True, slots=True)
class KeyToPath:
    key: str = spec_field("", required=True)
    path: str = spec_field("", required=True, check=names.relative_path)
    mode: int | None = spec_field(None, check=names.file_mode)


@dataclass(frozen=True, slots=True)
class ConfigMapVolumeSource:
    name: str = ""
    items: tuple[KeyToPath, ...] = ()
    # None: the API server's default, 0644 (volume_sources.py applies it), kept absent so -o yaml shows what was written
    default_mode: int | None = spec_field(None, check=names.file_mode)
    optional: bool | None = None


@dataclass(frozen=True, slots=True)
class SecretVolumeSource:
    secret_name: str = ""
    items: tuple[KeyToPath, ...] = ()
    default_mode: int | None = spec_field(None, check=names.file_mode)
    optional: bool | None = None


@dataclass(frozen=True, slots=True)
class ConfigMapProjection:
    name: str = ""
    items: tuple[KeyToPath, ...] = ()
    optional: bool | None = None


@dataclass(frozen=True, slots=True)
class SecretProjection:
    name: str = ""
    items: tuple[KeyToPath, ...] = ()
    optional: bool | None = None


@dataclass(frozen=True, slots=True)
class DownwardAPIProjection:
    items: tuple[DownwardAPIVolumeFile, ...] = ()


@dataclass(frozen=True, slots=True)
class VolumeProjection:
    config_map: ConfigMapProjection | None = None
    secret: SecretProjection | None = None
    downward_api: DownwardAPIProjection | None = spec_field(None, json="downwardAPI")

    _UNSUPPORTED: ClassVar[dict[str, str]] = {
        "serviceAccountToken": f"{_NOT_SUPPORTED}: no API server issues tokens",
        "clusterTrustBundle": f"{_NOT_SUPPORTED}: no API server publishes trust bundles",
        "podCertificate": f"{_NOT_SUPPORTED}: no API server issues pod certificates",
    }


@dataclass(frozen=True, slots=True)
class ProjectedVolumeSource:
    sources: tuple[VolumeProjection, ...] = ()
    default_mode: int | None = spec_field(None, check=names.file_mode)


@dataclass(frozen=True, slots=True)
class Volume:
    name: str = spec_field(check=names.dns1123_label)
    empty_dir: EmptyDirVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    downward_api: DownwardAPIVolumeSource | None = spec_field(None, json="downwardAPI")
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    projected: ProjectedVolumeSource | None = None

    _UNSUPPORTED: ClassVar[dict[str, str]] = {key: _NOT_SUPPORTED for key in _OTHER_VOLUME_SOURCES}


@dataclass(frozen=True, slots=True)
class HostAlias:
    ip: str
    hostnames: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PodDNSConfigOption:
    name: str = ""
    value: str | None = None


@dataclass(frozen=True, slots=True)
class PodDNSConfig:
    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[PodDNSConfigOption, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeSelectorRequirement:
    key: str = spec_field("", required=True)
    # Not an enum: the API server answers an unknown operator with `Invalid value: ...: not a valid
    # selector operator` (validate.py), not with the `Unsupported value` list an enum would print.
    operator: str = spec_field("", required=True)
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    match_expressions: tuple[NodeSelectorRequirement, ...] = ()
    match_fields: tuple[NodeSelectorRequirement, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeSelector:
    node_selector_terms: tuple[NodeSelectorTerm, ...] = spec_field((), required=True)


@dataclass(frozen=True, slots=True)
class PreferredSchedulingTerm:
    weight: int = spec_field(0, required=True)
    preference: NodeSelectorTerm = spec_field(factory=NodeSelectorTerm, required=True)


@dataclass(frozen=True, slots=True)
class NodeAffinity:
    # Required terms are the kubelet's admission (worker/admission.py); preferred ones only rank nodes
    # for a scheduler, and a node with one candidate has nothing to rank: accepted, kept, not used.
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: tuple[PreferredSchedulingTerm, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelectorRequirement:
    key: str = spec_field("", required=True)
    operator: str = spec_field("", required=True)  # not an enum: see NodeSelectorRequirement
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """metav1.LabelSelector. Keys and values are checked by validate.py, at the API server's paths."""

    match_labels: dict[str, str] = spec_field(factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


@dataclass(frozen=True, slots=True)
class PodAffinityTerm:
    # No selector selects no pod; an empty one ({}) selects every pod.
    label_selector: LabelSelector | None = None
    namespaces: tuple[str, ...] = ()
    # Not required by the decoder: the API server answers an empty or missing one with its own words
    # ("Required value: can not be empty", validate.py).
    topology_key: str = ""
    namespace_selector: LabelSelector | None = None
    match_label_keys: tuple[str, ...] = ()
    mismatch_label_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WeightedPodAffinityTerm:
    # Go int32 and struct without omitempty: a missing weight is 0 ("must be in the range 1-100").
    weight: int = 0
    pod_affinity_term: PodAffinityTerm = spec_field(factory=PodAffinityTerm)


@dataclass(frozen=True, slots=True)
class PodAffinity:
    """podAffinity and podAntiAffinity (the same fields). Required terms are the scheduler's
    InterPodAffinity filter, run by admission against the node's pods (worker/admission.py). Preferred
    terms only score candidate nodes, and one node has no rival to score against: accepted, kept, unused."""

    required_during_scheduling_ignored_during_execution: tuple[PodAffinityTerm, ...] = ()
    preferred_during_scheduling_ignored_during_execution: tuple[WeightedPodAffinityTerm, ...] = ()


@dataclass(frozen=True, slots=True)
class Affinity:
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


@dataclass(frozen=True, slots=True)
class PodSchedulingGate:
    name: str = spec_field("", required=True, check=names.qualified_name)


@dataclass(frozen=True, slots=True)
class LocalObjectReference:
    """An object of the pod's namespace, by name (imagePullSecrets)."""

    name: str = ""


@dataclass(frozen=True, slots=True)
class PodOS:
    name: str = spec_field(enum=("linux", "windows"))


@dataclass(frozen=True, slots=True)
class PodResources:
    """Pod-level spec.resources (KEP 2837). Unlike a container's, a missing request is not simply its
    limit: PodSpec.__post_init__ defaults it from the containers first (the API server's defaultPodRequests)."""

    limits: dict[str, Quantity] = spec_field(factory=dict, key_check=names.resource_name, value_check=names.non_negative)
    requests: dict[str, Quantity] = spec_field(factory=dict, key_check=names.resource_name, value_check=names.non_negative)

    _UNSUPPORTED: ClassVar[dict[str, str]] = {"claims": "Forbidden: claims may not be set for Resources at pod-level"}


def aggregate_requests(containers: tuple[Container, ...], inits: tuple[Container, ...]
                       ) -> dict[str, Quantity]:
    """The containers' effective requests per resource, as the scheduler adds them (KEP 753):
    max(sum of app containers and sidecars, each init container plus the sidecars started before it)."""
    total: dict[str, Quantity] = {}
    sidecars: dict[str, Quantity] = {}
    peak: dict[str, Quantity] = {}

    def add(into: dict[str, Quantity], name: str, q: Quantity) -> None:
        into[name] = into[name] + q if name in into else q

    for c in inits:
        if is_sidecar(c):
            for name, q in c.resources.requests.items():
                add(sidecars, name, q)
                add(total, name, q)
            continue
        for name, q in c.resources.requests.items():
            start = sidecars.get(name)
            need = q + start if start is not None else q
            if name not in peak or need.amount > peak[name].amount:
                peak[name] = need
    for c in containers:
        for name, q in c.resources.requests.items():
            add(total, name, q)
    for name, q in peak.items():
        if name not in total or q.amount > total[name].amount:
            total[name] = q
    return total


_NODE_PROBLEM_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def _default_toleration(key: str) -> dict[str, object]:
    return {"effect": "NoExecute", "key": key, "operator": "Exists", "tolerationSeconds": 300}


def _covers(toleration: object, key: str) -> bool:
    """The plugin's test: a toleration of that key (or of every key) for NoExecute (or every effect)."""
    if not isinstance(toleration, dict):
        return False
    return toleration.get("key", "") in ("", key) and toleration.get("effect", "") in ("", "NoExecute")


# The PriorityClasses every cluster has (scheduling/types.go SystemCriticalPriority and above).
BUILTIN_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}

# Pod-level resources the API accepts (validatePodResourceName); hugepages-<size> also.
POD_LEVEL_RESOURCES = ("cpu", "memory")


@dataclass(frozen=True, slots=True)
class PodSpec:
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = ()
    volumes: tuple[Volume, ...] = ()
    restart_policy: str = spec_field("Always", enum=("Always", "OnFailure", "Never"))
    termination_grace_period_seconds: int = spec_field(30, check=names.non_negative)
    active_deadline_seconds: int | None = spec_field(None, check=names.at_least_one)
    dns_policy: str = spec_field("ClusterFirst", enum=("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"))
    dns_config: PodDNSConfig | None = None
    hostname: str = spec_field("", check=names.dns1123_label)
    subdomain: str = spec_field("", check=names.dns1123_label)
    host_network: bool = False
    host_pid: bool = spec_field(False, json="hostPID")
    host_ipc: bool = spec_field(False, json="hostIPC")
    share_process_namespace: bool = False
    host_aliases: tuple[HostAlias, ...] = ()
    security_context: PodSecurityContext = spec_field(factory=PodSecurityContext)
    node_name: str = ""
    service_account_name: str = ""
    # The deprecated alias of serviceAccountName; the API server fills each from the other.
    service_account: str = ""
    scheduler_name: str = "default-scheduler"
    priority: int | None = None
    priority_class_name: str = ""
    # Only the scheduler preempts: on one node it changes nothing, but the API server stores the default.
    preemption_policy: str = spec_field("PreemptLowerPriority", enum=("PreemptLowerPriority", "Never"))
    enable_service_links: bool = True
    automount_service_account_token: bool | None = None
    # Secrets (kubernetes.io/dockerconfigjson or dockercfg) whose credentials the image pulls try first.
    image_pull_secrets: tuple[LocalObjectReference, ...] = ()
    node_selector: dict[str, str] = spec_field(factory=dict, key_check=names.qualified_name,
                                               value_check=names.label_value)
    affinity: Affinity | None = None
    scheduling_gates: tuple[PodSchedulingGate, ...] = ()
    set_hostname_as_fqdn: bool | None = spec_field(None, json="setHostnameAsFQDN")
    # false (a user namespace) is refused by validate.py; true is what pyrunc does.
    host_users: bool | None = None
    # Refused by validate.py unless empty: pyrunc is one runtime (no RuntimeClass objects, no handlers).
    runtime_class_name: str = ""
    os: PodOS | None = None
    resources: PodResources | None = None

    # Valid in Kubernetes and kept verbatim (printed back). tolerations: a pyrunc node has no taints, so
    # every toleration is honoured by having nothing to tolerate (exactly Kubernetes' outcome).
    # topologySpreadConstraints: the scheduler's, among nodes; apply warns that they are ignored.
    # nodeSelector, affinity, schedulingGates, imagePullSecrets: see their own handling.
    _RAW: ClassVar[frozenset[str]] = frozenset({
        "tolerations", "topologySpreadConstraints"})
    _UNSUPPORTED: ClassVar[dict[str, str]] = {
        # A readiness gate waits for a pod condition that something else sets: nothing can on a pyrunc
        # node, so the pod could never be Ready (ignoring the gate would make it Ready too early).
        "readinessGates": "not supported by pyrunc: nothing sets custom pod conditions on a pyrunc node",
        "resourceClaims": _NO_DRA,
        # The RuntimeClass admission plugin's answer when no RuntimeClass defines an overhead.
        "overhead": "Forbidden: pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
        # The API server's answer to a create request carrying them (they are added by a subresource).
        "ephemeralContainers": "Forbidden: cannot be set on create",
        # hostnameOverride: the alpha HostnameOverride field.
        "hostnameOverride": _NOT_SUPPORTED,
    }
    ignored: dict[str, object] = spec_field(factory=dict)

    def __post_init__(self) -> None:
        # The Priority admission plugin: the built-in classes resolve to their values, anything else
        # (no PriorityClass objects here, no global default) to 0, stored explicitly.
        if self.priority is None:
            object.__setattr__(self, "priority", BUILTIN_PRIORITY_CLASSES.get(self.priority_class_name, 0))
        # The ServiceAccount admission plugin: a pod naming no service account runs as "default".
        if not self.service_account and not self.service_account_name:
            object.__setattr__(self, "service_account_name", "default")
        # API defaulting: serviceAccountName and its deprecated alias mirror each other.
        if self.service_account and not self.service_account_name:
            object.__setattr__(self, "service_account_name", self.service_account)
        elif self.service_account_name and not self.service_account:
            object.__setattr__(self, "service_account", self.service_account_name)
        # SetDefaults_Pod: with the host's network a port is the host's port (hostPort = containerPort).
        if self.host_network:
            for attr in ("containers", "init_containers"):
                fixed = tuple(replace(c, ports=tuple(replace(p, host_port=p.host_port or p.container_port)
                                                     for p in c.ports)) for c in getattr(self, attr))
                object.__setattr__(self, attr, fixed)
        # The DefaultTolerationSeconds admission plugin: tolerate a not-ready or unreachable node for 300 s
        # unless a toleration already covers it. (A pyrunc node has no taints: stored, never acted on.)
        tolerations = self.ignored.get("tolerations")
        if tolerations is None or isinstance(tolerations, list):
            added = [_default_toleration(key) for key in _NODE_PROBLEM_TAINTS
                     if not any(_covers(t, key) for t in tolerations or [])]
            if added:
                object.__setattr__(self, "ignored", {**self.ignored, "tolerations": [*(tolerations or []), *added]})
        # defaultPodRequests: with pod-level limits, a pod-level request not given is the containers'
        # aggregate request when any container requests it, else the pod-level limit (cpu/memory;
        # hugepages requests are their limits).
        if self.resources is not None and self.resources.limits:
            requests = dict(self.resources.requests)
            aggregate = aggregate_requests(self.containers, self.init_containers)
            for name in POD_LEVEL_RESOURCES:
                if name not in requests and name in aggregate:
                    requests[name] = aggregate[name]
            for name, limit in self.resources.limits.items():
                if name in POD_LEVEL_RESOURCES or name.startswith("hugepages-"):
                    requests.setdefault(name, limit)
            object.__setattr__(self, "resources", PodResources(limits=self.resources.limits, requests=requests))


@dataclass(frozen=True, slots=True)
class Pod:
    api_version: str = spec_field("v1", required=True, enum=("v1",))
    kind: str = spec_field("Pod", required=True, enum=("Pod",))
    metadata: ObjectMeta = spec_field(kw_only=True)
    spec: PodSpec = spec_field(kw_only=True)

    _DROPPED: ClassVar[frozenset[str]] = frozenset({"status"})


CLUSTER_DOMAIN = "cluster.local"
MAX_FQDN = 64  # the kubelet's limit for a hostname set as FQDN (Linux's HOST_NAME_MAX)


def pod_hostname(pod: Pod) -> str:
    """The pod's UTS hostname, as the kubelet's GeneratePodHostNameAndDomain makes it: spec.hostname or
    the pod name (63 characters at most); with setHostnameAsFQDN and a subdomain, the full
    <hostname>.<subdomain>.<namespace>.svc.<cluster domain> (validate.py refuses one over 64)."""
    hostname = (pod.spec.hostname or pod.metadata.name)[:63]
    if pod.spec.set_hostname_as_fqdn and pod.spec.subdomain:
        return f"{hostname}.{pod.spec.subdomain}.{pod.metadata.namespace}.svc.{CLUSTER_DOMAIN}"
    return hostname


def is_sidecar(c: Container) -> bool:
    """A native sidecar: an init container with ``restartPolicy: Always`` (the rule is spec/sidecar.py's)."""
    return restartable(c.restart_policy)
