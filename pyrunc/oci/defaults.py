"""What `pyrunc-oci spec` writes (runc's default config.json, field for field) and `features` prints."""

from __future__ import annotations

from typing import Any

from pyrunc import __version__
from pyrunc.oci import OCI_VERSION
from pyrunc.oci.config import FLAG_WORDS, PROPAGATION_WORDS
from pyrunc.oci.hooks import KINDS as HOOK_KINDS
from pyrunc.oci.mountattr import RECURSIVE_WORDS
from pyrunc.security import caps as capsets
from pyrunc.security import seccomp

# runc's default capabilities (specconv.Example): the same list in the bounding, effective and permitted sets.
DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_spec() -> dict[str, Any]:
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": list(DEFAULT_CAPS), "effective": list(DEFAULT_CAPS),
                             "permitted": list(DEFAULT_CAPS), "ambient": list(DEFAULT_CAPS)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def libseccomp_version() -> str:
    try:
        import ctypes

        lib = ctypes.CDLL("libseccomp.so.2")
        lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
        v = lib.seccomp_version().contents
        return f"{v[0]}.{v[1]}.{v[2]}"
    except (OSError, AttributeError):
        return "unknown"


def features() -> dict[str, Any]:
    """The runtime-spec features document: only what pyrunc-oci really handles (docs/oci.md)."""
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": sorted({*FLAG_WORDS, *PROPAGATION_WORDS, *RECURSIVE_WORDS, "idmap", "ridmap",
                                "tmpcopyup"}),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": list(capsets.CAP_NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {"enabled": True, "actions": list(seccomp.ACTIONS), "operators": list(seccomp.OPERATORS),
                        "archs": list(seccomp.ARCHES), "knownFlags": list(seccomp.FLAGS),
                        "supportedFlags": list(seccomp.FLAGS)},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
        },
        "annotations": {"io.github.seccomp.libseccomp.version": libseccomp_version(),
                        "org.pyrunc.version": __version__},
    }
