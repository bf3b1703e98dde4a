"""Node settings: what a kubelet would read from its configuration file.

Read from ``<root>/config.json`` when it exists (tests write one per isolated root);
every key is optional. Nothing here is global: the CLI builds one NodeConfig and passes it down.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

from pyrunc.errors import PyruncError

DEFAULT_ROOT = "/run/pyrunc"
DEFAULT_IMAGES = "/var/lib/pyrunc/images"
DEFAULT_SECCOMP_ROOT = "/var/lib/pyrunc/seccomp"
DEFAULT_DATA_DIR = "/var/lib/pyrunc"
DEFAULT_POD_LOGS_DIR = "/var/log/pods"


class NodeConfig(NamedTuple):
    """Immutable node settings. A NamedTuple rather than a dataclass: this is on every CLI call's path,
    and importing dataclasses (with inspect) costs ~10 ms of a `pyrunc get`."""

    root: str = DEFAULT_ROOT
    # Where built or pulled images live (read-only lower layers); shared by every root.
    images_dir: str = DEFAULT_IMAGES
    node_name: str = ""
    # Pod networking (issue: pod networking). The subnet avoids podman (10.88/16, 10.89/16),
    # docker (172.17/16), k3s (10.42/16) and flannel (10.244/16).
    # "bridge": one IP per pod on the node bridge; "none": loopback only (like a kubelet without CNI).
    network: str = "bridge"
    bridge: str = "pyrunc0"
    pod_subnet: str = "10.66.0.0/16"
    # Restart back-off, as the kubelet's crashLoopBackOff.maxContainerRestartPeriod (seconds).
    # The initial delay is 10 s, or the maximum itself when that is below 10 s.
    crashloop_max_backoff: float = 300.0
    # Seconds a container must run without failing before its back-off is reset (kubelet: 10 min).
    backoff_reset_after: float = 600.0
    # cgroups: parent group name and the pids limit per pod (kubelet podPidsLimit; -1 = none).
    cgroup_parent: str = "pyrunc"
    pod_pids_limit: int = -1
    # cpu.shares -> cpu.weight on cgroup v2: "quadratic" (runc >= 1.3.2, crun >= 1.23) or "linear" (older).
    cpu_weight_conversion: str = "quadratic"
    # Seconds the supervisor stays after its last pod is gone, so that a pod created right after
    # does not pay its start-up (~0.5 s: the interpreter, pyroute2). 0 = leave at once.
    daemon_linger: float = 10.0
    # Sysctls a pod may set beyond the kubelet's safe set, like the kubelet's --allowed-unsafe-sysctls:
    # names or `prefix*` patterns, each of a namespaced sysctl (kernel.shm*, kernel.msg*, kernel.sem,
    # fs.mqueue.*, net.*). See pyrunc/runtime/sysctls.py.
    allowed_unsafe_sysctls: tuple[str, ...] = ()
    # Seccomp: where Localhost profiles live (the kubelet's <root-dir>/seccomp), and whether a container
    # with no seccompProfile gets RuntimeDefault (the kubelet's --seccomp-default) instead of Unconfined.
    seccomp_profile_root: str = DEFAULT_SECCOMP_ROOT
    seccomp_default: bool = False
    # Bulk data on disk, never under the state root (a tmpfs, i.e. RAM): containers' writable layers
    # and disk emptyDirs go to <data_dir>/pods/<uid>/ (the kubelet's /var/lib/kubelet/pods/<uid>).
    data_dir: str = DEFAULT_DATA_DIR
    # Container logs: <pod_logs_dir>/<namespace>_<name>_<uid>/<container>/<restartCount>.log, rotated
    # as the kubelet's containerLogMaxSize (bytes; 0 or less: never rotated) and containerLogMaxFiles
    # (files kept per container instance, the current one included; at least 2).
    pod_logs_dir: str = DEFAULT_POD_LOGS_DIR
    container_log_max_size: int = 10 * 1024 * 1024
    container_log_max_files: int = 5
    # Seconds between checks of emptyDir usage against sizeLimit (the kubelet's housekeeping period).
    housekeeping_interval: float = 10.0
    # Registries (images/registry.py): host[:port] entries reached over plain HTTP or unverified TLS
    # (loopback registries always are, as docker treats them); per-registry CAs and client certificates
    # in <registry_certs_dir>/<host[:port]>/ (ca.crt, client.cert + client.key), as docker's certs.d;
    # docker-style config.json files with credentials, searched in order (the kubelet's search when empty:
    # <data_dir>/config.json, then root's ~/.docker/config.json).
    insecure_registries: tuple[str, ...] = ()
    # An offline node (air-gapped machines, CI runners, the test suite) never contacts a registry that
    # is not on this host (loopback): a pull the policy asks for uses the image present on the node
    # (an event says so), or fails with ErrImagePull when there is none.
    offline: bool = False
    registry_certs_dir: str = "/etc/pyrunc/certs.d"
    registry_auth_files: tuple[str, ...] = ()
    # Seconds without progress before a registry request fails.
    registry_timeout: float = 30.0
    # Image garbage collection, as the kubelet's imageGCHighThresholdPercent / imageGCLowThresholdPercent /
    # imageMinimumGCAge: above `high` percent of the image filesystem in use, unused images go, least
    # recently used first, until usage is below `low`.
    image_gc_high_threshold: int = 85
    image_gc_low_threshold: int = 80
    image_minimum_gc_age: float = 120.0
    # Limits on one layer while unpacking (decompression bombs): uncompressed bytes and tar entries.
    image_max_layer_bytes: int = 32 << 30
    image_max_layer_entries: int = 1_000_000
    # Static pods (the kubelet's staticPodPath / --pod-manifest-path): a directory of manifests, one pod per
    # .yaml/.yml/.json file, kept running by the daemon (which then stays until SIGTERM); "" = none.
    # The directory is watched (inotify) and read again every file_check_frequency seconds (the kubelet's 20 s).
    pod_manifest_path: str = ""
    file_check_frequency: float = 20.0
    # Node labels (pyrunc/node.py): merged under those `pyrunc label node` sets and the kubelet's own
    # (kubernetes.io/hostname, kubernetes.io/os, kubernetes.io/arch), matched by nodeSelector and node affinity.
    node_labels: dict[str, str] = {}  # noqa: RUF012 - never mutated: a NamedTuple default, replaced whole
    # Extended resources the node offers (a device plugin's count, e.g. {"example.com/gpu": 2}): pods
    # requesting one are admitted while the node's total is not exceeded (worker/admission.py).
    extended_resources: dict[str, int] = {}  # noqa: RUF012

    @property
    def pods_dir(self) -> str:
        return os.path.join(self.root, "pods")

    @property
    def auth_files(self) -> tuple[str, ...]:
        if self.registry_auth_files:
            return self.registry_auth_files
        return (os.path.join(self.data_dir, "config.json"), os.path.join(os.path.expanduser("~root"), ".docker", "config.json"))


def load_config(root: str | None = None) -> NodeConfig:
    """Build the NodeConfig for ``root`` (``--root``, then $PYRUNC_ROOT, then /run/pyrunc)."""
    root = os.path.abspath(root or os.environ.get("PYRUNC_ROOT") or DEFAULT_ROOT)
    cfg = NodeConfig(root=root, node_name=os.uname().nodename)
    images = os.environ.get("PYRUNC_IMAGES")
    if images:
        cfg = cfg._replace(images_dir=os.path.abspath(images))
    path = os.path.join(root, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return cfg
    except (OSError, ValueError) as e:
        raise PyruncError(f"{path}: cannot read node configuration: {e}") from None
    known = set(NodeConfig._fields)
    changes = {}
    for key, value in data.items():
        if key not in known or key == "root":
            raise PyruncError(f"{path}: unknown setting {key!r}", hint="known: " + ", ".join(sorted(known)))
        default = getattr(cfg, key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise PyruncError(f"{path}: {key}: expected a list of strings, got {value!r}")
            value = tuple(value)
        elif isinstance(default, dict):
            value = _setting_dict(path, key, value)
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise PyruncError(f"{path}: {key}: expected a number, got {value!r}")
            value = type(default)(value)
        elif not isinstance(value, type(default)):
            raise PyruncError(f"{path}: {key}: expected {type(default).__name__}, got {value!r}")
        changes[key] = value
    cfg = cfg._replace(**changes)
    _check_node_settings(path, cfg)
    for key in ("data_dir", "pod_logs_dir"):
        if not os.path.isabs(getattr(cfg, key)):
            raise PyruncError(f"{path}: {key}: expected an absolute path, got {getattr(cfg, key)!r}")
    if cfg.container_log_max_files < 2:  # the kubelet refuses it too: the current file and one rotated
        raise PyruncError(f"{path}: container_log_max_files: must be at least 2, got {cfg.container_log_max_files}")
    if not 0 <= cfg.image_gc_low_threshold <= cfg.image_gc_high_threshold <= 100:
        raise PyruncError(f"{path}: image_gc_low_threshold ({cfg.image_gc_low_threshold}) must be between 0 and "
                          f"image_gc_high_threshold ({cfg.image_gc_high_threshold}), at most 100")
    if cfg.pod_manifest_path and not os.path.isabs(cfg.pod_manifest_path):
        raise PyruncError(f"{path}: pod_manifest_path: expected an absolute path, got {cfg.pod_manifest_path!r}")
    if cfg.file_check_frequency <= 0:
        raise PyruncError(f"{path}: file_check_frequency: must be positive, got {cfg.file_check_frequency}")
    if cfg.housekeeping_interval <= 0:
        raise PyruncError(f"{path}: housekeeping_interval: must be positive, got {cfg.housekeeping_interval}")
    return cfg


def _setting_dict(path: str, key: str, value: object) -> dict[str, object]:
    """node_labels (string values) or extended_resources (whole numbers), checked as the API checks them."""
    if not isinstance(value, dict):
        raise PyruncError(f"{path}: {key}: expected an object, got {value!r}")
    want_int = key == "extended_resources"
    for k, v in value.items():
        ok = (isinstance(v, int) and not isinstance(v, bool) and v >= 0) if want_int else isinstance(v, str)
        if not ok:
            what = "a whole number of at least 0" if want_int else "a string"
            raise PyruncError(f"{path}: {key}.{k}: expected {what}, got {v!r}")
    return dict(value)


def _check_node_settings(path: str, cfg: NodeConfig) -> None:
    if not cfg.node_labels and not cfg.extended_resources:
        return
    from pyrunc.spec import names

    for key, value in cfg.node_labels.items():
        problem = names.qualified_name(key) or names.label_value(value)
        if problem:
            raise PyruncError(f"{path}: node_labels.{key}: {problem}")
    for key in cfg.extended_resources:
        # An extended resource is domain-qualified and outside kubernetes.io (IsExtendedResourceName).
        domain = key.partition("/")[0]
        in_kubernetes_io = domain == "kubernetes.io" or domain.endswith(".kubernetes.io")
        if "/" not in key or names.qualified_name(key) or in_kubernetes_io:
            raise PyruncError(f"{path}: extended_resources.{key}: not an extended resource name "
                              f"(a domain-qualified name outside kubernetes.io, e.g. example.com/gpu)")
