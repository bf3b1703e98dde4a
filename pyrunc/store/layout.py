"""Where everything of a pod lives on disk, under the node root (--root, default /run/pyrunc).

    <root>/daemon.json               supervisor facts: pid, start time
    <root>/daemon.sock               the supervisor's request socket
    <root>/daemon.log                the supervisor's own log
    <root>/events.json               events about the node itself (a bad static pod manifest)
    <root>/cgroups/<uid>             markers of the pods whose cgroups this root made: the only
                                     pod cgroups its reclaim may remove (data and logs on disk carry
                                     their own marker: pyrunc/store/paths.py)
    <root>/pods/<ns>_<name>/
        pod.json                     the applied Pod (v1 form, with uid and timestamps)
        sandbox.json                 sandbox facts: namespace files, holder pid, IP, cgroup
        events.json                  events, newest last
        eviction.json                the pod was evicted: reason and message (sandbox/eviction.py)
        admission.json               the pod was not admitted: rejected (reason, message) or gated;
                                     such a pod has nothing else but pod.json and events.json (worker/held.py)
        ns/{net,ipc,uts}             namespace files held by bind mounts
        shm/                         the pod's /dev/shm (tmpfs)
        etc/{hosts,hostname,resolv.conf}
        volumes/<volume>/            memory-backed emptyDirs (tmpfs) and downwardAPI files
        containers/<name>/
            container.json           the runtime service's record of the latest instance: id, pid, start
                                     time, exit code, reason (runtime/records.py)
            state.json               the pod worker's facts: restart count, back-off, readiness (worker/plan.py)
            config.json              the resolved container config (command, env, mounts) for exec
            termination-log

Bulk data is not here (this is RAM): writable layers, disk emptyDirs and container logs live on
disk under the node's data_dir and pod_logs_dir (store/paths.py).

Permissions: pods/ and every pod directory are 0750 root (as the kubelet's pod directories), the
JSON state files and config.json 0600 (they hold env values), daemon.sock and
daemon.log 0600: an unprivileged local user can neither list pods nor read their state. emptyDir
directories stay 0777: containers reach them through bind mounts made as root, never through
the pod directory's path. Only DNS-1123 names (namespace: a label) ever become path components.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from pyrunc.spec.names import dns1123_label, dns1123_subdomain


def valid_name(name: str) -> bool:
    """A DNS-1123 subdomain (spec/names.py): the only names that may reach a path (no '/', '..' or '_')."""
    return dns1123_subdomain(name) is None


def valid_label(name: str) -> bool:
    """A DNS-1123 label (a namespace; spec/names.py): at most 63 characters, no dots."""
    return dns1123_label(name) is None


def pod_exists(root: str, namespace: str, name: str) -> bool:
    if not (valid_label(namespace) and valid_name(name)):
        return False
    return os.path.exists(PodLayout(root, namespace, name).pod_json)


def pod_key(namespace: str, name: str) -> str:
    # Both parts are validated DNS names (no '/', no '_'), so the key is unambiguous and path-safe.
    return f"{namespace}_{name}"


class PodLayout(NamedTuple):  # a NamedTuple, not a dataclass: see NodeConfig
    root: str
    namespace: str
    name: str

    @property
    def key(self) -> str:
        return pod_key(self.namespace, self.name)

    @property
    def dir(self) -> str:
        return os.path.join(self.root, "pods", self.key)

    def path(self, *parts: str) -> str:
        # What os.path.join gives for these parts (relative, non-empty: file names of this module and
        # validated names), without its per-part checks: `get` builds ~10 paths per pod.
        return "/".join((self.dir, *parts))

    @property
    def pod_json(self) -> str:
        return self.path("pod.json")

    @property
    def sandbox_json(self) -> str:
        return self.path("sandbox.json")

    @property
    def events_json(self) -> str:
        return self.path("events.json")

    @property
    def eviction_json(self) -> str:
        return self.path("eviction.json")

    @property
    def admission_json(self) -> str:
        return self.path("admission.json")

    def ns_file(self, ns: str) -> str:
        return self.path("ns", ns)

    def volume_dir(self, volume: str) -> str:
        return self.path("volumes", volume)

    def container_dir(self, container: str) -> str:
        return self.path("containers", container)

    def container_state(self, container: str) -> str:
        return self.path("containers", container, "state.json")

    def container_record(self, container: str) -> str:
        return self.path("containers", container, "container.json")

    def container_config(self, container: str) -> str:
        return self.path("containers", container, "config.json")


def list_pod_keys(root: str) -> list[str]:
    try:
        keys = os.listdir(os.path.join(root, "pods"))
    except FileNotFoundError:
        return []
    out = []
    for k in sorted(keys):
        namespace, _, name = k.partition("_")
        if valid_label(namespace) and valid_name(name):
            out.append(k)
    return out


def layout_for_key(root: str, key: str) -> PodLayout:
    namespace, _, name = key.partition("_")
    if not (valid_label(namespace) and valid_name(name)):
        raise ValueError(f"invalid pod key {key!r}")
    return PodLayout(root, namespace, name)
