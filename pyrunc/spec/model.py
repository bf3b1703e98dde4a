"""The v1 Pod model: frozen dataclasses named after the API (snake_case of the JSON names).

``None`` means the field was absent. Defaults are the API server's. The field metadata (``spec_field``)
carries the single-field rules; cross-field rules live in validate.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pyrunc.spec import names
from pyrunc.spec.quantity import Quantity
from pyrunc.spec.schema import spec_field
from pyrunc.spec.sidecar import restartable

_NOT_SUPPORTED = "not supported by pyrunc"
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

    _RAW: ClassVar[frozenset[str]] = frozenset({"claims"})
    ignored: dict[str, object] = spec_field(factory=dict)

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

    _RAW: ClassVar[frozenset[str]] = frozenset({"recursiveReadOnly"})
    _UNSUPPORTED: ClassVar[dict[str, str]] = {"subPathExpr": _NOT_SUPPORTED}
    ignored: dict[str, object] = spec_field(factory=dict)


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
    restart_policy: str | None = spec_field(None, enum=("Always",))

    _RAW: ClassVar[frozenset[str]] = frozenset({"volumeDevices", "resizePolicy"})
    ignored: dict[str, object] = spec_field(factory=dict)

    def __post_init__(self) -> None:
        if not self.image_pull_policy:
            object.__setattr__(self, "image_pull_policy", _image_pull_policy_default(self.image))


@dataclass(frozen=True, slots=True)
class EmptyDirVolumeSource:
    medium: str = spec_field("", enum=("Memory", "HugePages"))
    size_limit: Quantity | None = spec_field(None, check=names.non_negative)


@dataclass(frozen=True, slots=True)
class HostPathVolumeSource:
    path: str = spec_field(check=names.absolute_path)
    type: str = spec_field("", enum=(
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
    default_mode: int | None = spec_field(None, check=names.file_mode)


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


_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


@dataclass(frozen=True, slots=True)
class NodeSelectorRequirement:
    key: str = spec_field("", required=True)
    operator: str = spec_field("", required=True, enum=_SELECTOR_OPERATORS)
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
class Affinity:
    node_affinity: NodeAffinity | None = None

    # Inter-pod (anti-)affinity places pods relative to each other across the nodes of a topology
    # domain; on a single node there is no placement to choose, so it is kept verbatim and not acted on.
    _RAW: ClassVar[frozenset[str]] = frozenset({"podAffinity", "podAntiAffinity"})
    ignored: dict[str, object] = spec_field(factory=dict)


@dataclass(frozen=True, slots=True)
class PodSchedulingGate:
    name: str = spec_field("", required=True, check=names.qualified_name)


@dataclass(frozen=True, slots=True)
class LocalObjectReference:
    """An object of the pod's namespace, by name (imagePullSecrets)."""

    name: str = ""


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
    scheduler_name: str = "default-scheduler"
    priority: int | None = None
    priority_class_name: str = ""
    enable_service_links: bool = True
    automount_service_account_token: bool | None = None
    # Secrets (kubernetes.io/dockerconfigjson or dockercfg) whose credentials the image pulls try first.
    image_pull_secrets: tuple[LocalObjectReference, ...] = ()
    node_selector: dict[str, str] = spec_field(factory=dict, key_check=names.qualified_name,
                                               value_check=names.label_value)
    affinity: Affinity | None = None
    scheduling_gates: tuple[PodSchedulingGate, ...] = ()

    # Valid in Kubernetes, meaningless on one node: kept verbatim and printed back.
    _RAW: ClassVar[frozenset[str]] = frozenset({
        "tolerations", "topologySpreadConstraints",
        "readinessGates", "runtimeClassName", "overhead", "os", "preemptionPolicy", "resourceClaims",
        "hostUsers", "setHostnameAsFQDN", "serviceAccount", "ephemeralContainers"})
    ignored: dict[str, object] = spec_field(factory=dict)


@dataclass(frozen=True, slots=True)
class Pod:
    api_version: str = spec_field("v1", required=True, enum=("v1",))
    kind: str = spec_field("Pod", required=True, enum=("Pod",))
    metadata: ObjectMeta = spec_field(kw_only=True)
    spec: PodSpec = spec_field(kw_only=True)

    _DROPPED: ClassVar[frozenset[str]] = frozenset({"status"})


def is_sidecar(c: Container) -> bool:
    """A native sidecar: an init container with ``restartPolicy: Always`` (the rule is spec/sidecar.py's)."""
    return restartable(c.restart_policy)
