"""A bundle's config.json decoded into frozen records (NamedTuples: a dataclass costs ~3 ms to define, four were
~10 ms of every create): pure, unit-tested without root.

Every field of the runtime spec (1.0 to 1.2) that pyrunc-oci handles is checked and kept here; a field of
the spec it does not handle yet is refused with one line naming it (`linux.uidMappings: not supported by
pyrunc-oci yet`), never ignored: a container must not start with less isolation than its config asks for.
Properties the spec does not define are ignored, as the spec says runtimes must.
"""

from __future__ import annotations

import os

from pyrunc.cgroups.devices import ALLOW_ALL, DEFAULT_ALLOWED, DENY_ALL, DeviceRule, split_default
from pyrunc.errors import FieldError
from pyrunc.oci import check_id  # noqa: F401 - re-exported (the id rule is in pyrunc/oci/__init__.py)
from pyrunc.oci.hooks import KINDS as HOOK_KINDS
from pyrunc.oci.hooks import Hook
from pyrunc.oci.mountattr import RECURSIVE_WORDS
from pyrunc.oci.mountattr import combine as combine_attributes
from pyrunc.oci.process import Process, Rlimit, Scheduler  # noqa: F401 - re-exported: config's records
from pyrunc.oci.userns import CLOCKS, IdMap
from pyrunc.security.caps import CapabilitySets
from pyrunc.security import caps as capsets
from pyrunc.store import leanjson

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from pyrunc.records import NamedTuple

NAMESPACE_KINDS = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts", "user": "user",
                   "cgroup": "cgroup", "time": "time"}
RLIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS", "RLIMIT_MEMLOCK",
           "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO",
           "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK")
MOUNT_TYPES = ("bind", "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2")
# The spec's fields pyrunc-oci does not handle yet, by path: refused when present and not empty.
NOT_YET = ("linux.intelRdt",
           "linux.seccomp.listenerPath", "linux.seccomp.listenerMetadata",
           "linux.resources.rdma", "solaris", "windows", "vm", "zos")
# Deprecated by the spec (kernel memory limits are gone from cgroup v2 and from recent v1 kernels).
NOT_YET_MEMORY = ("kernel", "kernelTCP", "useHierarchy")


class OciMount(NamedTuple):
    destination: str
    type: str  # one of MOUNT_TYPES ("bind" for bind and rbind)
    source: str
    flags: int  # MS_* of the mount itself (MS_BIND, MS_REC, MS_RDONLY, MS_NOSUID ...)
    data: str  # the filesystem options left after runc's flag words are taken out
    propagation: int = 0  # MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE (| MS_REC), applied after the mount
    attr_clear: int = 0  # MOUNT_ATTR_* of the recursive words (rro, rnosuid ...), applied after the mount
    attr_set: int = 0
    idmap: str = ""  # "idmap" (the top mount) or "ridmap" (every mount of the tree): an id-mapped bind
    uid_map: tuple[IdMap, ...] = ()  # the mount's own mappings (else the container's user namespace's)
    gid_map: tuple[IdMap, ...] = ()
    tmpcopyup: bool = False  # a tmpfs that starts with a copy of what it covers (runc's tmpcopyup)


class Device(NamedTuple):
    """A node of linux.devices, made in the container's /dev."""

    path: str
    kind: str  # c, b, u or p
    major: int
    minor: int
    mode: int
    uid: int
    gid: int


class Resources(NamedTuple):
    memory_limit: int | None = None
    memory_reservation: int | None = None
    memory_swap: int | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpus: str = ""
    mems: str = ""
    pids_limit: int | None = None
    devices: tuple[DeviceRule, ...] = (ALLOW_ALL,)
    swappiness: int | None = None
    disable_oom_killer: bool = False
    cpu_rt_runtime: int | None = None
    cpu_rt_period: int | None = None
    cpu_burst: int | None = None
    cpu_idle: int | None = None
    blkio_weight: int | None = None
    blkio_leaf_weight: int | None = None
    # (major, minor, weight or None, leafWeight or None)
    blkio_weight_devices: tuple[tuple[int, int, int | None, int | None], ...] = ()
    # (which: one of THROTTLES' keys, major, minor, rate)
    blkio_throttles: tuple[tuple[str, int, int, int], ...] = ()
    hugepages: tuple[tuple[str, int], ...] = ()  # (page size as "2MB", limit in bytes)
    net_class_id: int | None = None
    net_priorities: tuple[tuple[str, int], ...] = ()  # (interface, priority)
    unified: tuple[tuple[str, str], ...] = ()  # cgroup v2 file -> value


class OciConfig(NamedTuple):
    bundle: str
    root: str  # absolute host path of the root filesystem
    root_readonly: bool
    process: Process
    hostname: str
    domainname: str
    mounts: tuple[OciMount, ...]
    namespaces: dict[str, str] = {}  # spec kind -> "new" | path (absent: the host's); never mutated (shared default)
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    resources: Resources = Resources()
    cgroups_path: str = ""
    devices: tuple[Device, ...] = ()
    sysctl: tuple[tuple[str, str], ...] = ()
    seccomp: str = ""  # the linux.seccomp object as JSON text ("" = none), checked by security/seccomp.py
    annotations: tuple[tuple[str, str], ...] = ()
    hooks: dict[str, tuple[Hook, ...]] = {}  # kind -> its hooks (absent: none); never mutated (shared default)
    uid_map: tuple[IdMap, ...] = ()  # with a new user namespace
    gid_map: tuple[IdMap, ...] = ()
    time_offsets: tuple[tuple[str, int, int], ...] = ()  # (clock, secs, nanosecs) with a new time namespace
    personality: int | None = None  # the PER_* domain for personality(2)
    rootfs_propagation: int = 0  # MS_* of linux.rootfsPropagation (0: runc's default, rslave)
    memory_policy: tuple[int, tuple[int, ...]] | None = None  # (MPOL_* | MPOL_F_*, nodes) for set_mempolicy

    def hooks_of(self, kind: str) -> tuple[Hook, ...]:
        return self.hooks.get(kind, ())

    # What security/process.py's ProcessSecurity reads.
    @property
    def capabilities(self) -> CapabilitySets:
        """The sets to apply. The kernel raises an ambient capability only when it is permitted and
        inheritable; runc goes on without the others (its default config asks for ambient caps with no
        inheritable set), so they are left out here rather than failing the container."""
        c = self.process.capabilities
        ambient = tuple(n for n in c.ambient if n in c.inheritable and n in c.permitted)
        return c._replace(ambient=ambient)

    @property
    def no_new_privileges(self) -> bool:
        return self.process.no_new_privileges


class _Reader:
    """Typed access to the JSON tree, every error naming the field's path."""

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise FieldError(path, "must be an object")
        return value

    def lst(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise FieldError(path, "must be an array")
        return value

    def str_(self, value: Any, path: str, default: str = "") -> str:
        if value is None:
            return default
        if not isinstance(value, str):
            raise FieldError(path, "must be a string")
        return value

    def int_(self, value: Any, path: str, low: int = -(1 << 63), high: int = (1 << 64) - 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(path, "must be an integer")
        if not low <= value <= high:
            raise FieldError(path, f"must be between {low} and {high}")
        return value

    def opt_int(self, value: Any, path: str, low: int = -(1 << 63), high: int = (1 << 64) - 1) -> int | None:
        return None if value is None else self.int_(value, path, low, high)

    def bool_(self, value: Any, path: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise FieldError(path, "must be true or false")
        return value

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        return tuple(self.str_(v, f"{path}[{i}]") for i, v in enumerate(self.lst(value, path)))


R = _Reader()


def _present(doc: dict[str, Any], dotted: str) -> bool:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node not in (None, "", [], {})


def _not_yet(path: str) -> FieldError:
    return FieldError(path, "not supported by pyrunc-oci yet (docs/oci.md)")


# ---------------------------------------------------------------------------------------- mounts
# runc's option words (libcontainer/specconv: mountFlags) -> (clear?, MS_ flag).
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS = 1, 2, 4, 8, 16
MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC, MS_NOATIME, MS_NODIRATIME = 32, 64, 128, 1024, 2048
MS_BIND, MS_REC, MS_SILENT = 4096, 16384, 32768
MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 17, 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
FLAG_WORDS: dict[str, tuple[bool, int]] = {
    "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY), "nosuid": (False, MS_NOSUID), "suid": (True, MS_NOSUID),
    "nodev": (False, MS_NODEV), "dev": (True, MS_NODEV), "noexec": (False, MS_NOEXEC), "exec": (True, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS), "async": (True, MS_SYNCHRONOUS), "dirsync": (False, MS_DIRSYNC),
    "remount": (False, MS_REMOUNT), "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK),
    "atime": (True, MS_NOATIME), "noatime": (False, MS_NOATIME), "diratime": (True, MS_NODIRATIME),
    "nodiratime": (False, MS_NODIRATIME), "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME), "norelatime": (True, MS_RELATIME), "strictatime": (False, MS_STRICTATIME),
    "nostrictatime": (True, MS_STRICTATIME), "silent": (False, MS_SILENT), "loud": (True, MS_SILENT),
    "defaults": (False, 0),
}
PROPAGATION_WORDS = {"private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED,
                     "rshared": MS_SHARED | MS_REC, "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
                     "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC}
FLAG_WORDS.update({"nosymfollow": (False, 256), "symfollow": (True, 256)})  # MS_NOSYMFOLLOW (Linux 5.10)
# Words runc handles that pyrunc-oci does not yet.
NOT_YET_WORDS: tuple[str, ...] = ()


def _mount(m: Any, path: str) -> OciMount:
    d = R.obj(m, path)
    dest = R.str_(d.get("destination"), f"{path}.destination")
    if not dest.startswith("/"):
        raise FieldError(f"{path}.destination", f"must be an absolute path, not {dest!r}")
    if os.path.normpath(dest) == "/":
        raise FieldError(f"{path}.destination", "cannot be the root")
    uid_map = _id_maps(d.get("uidMappings"), f"{path}.uidMappings")
    gid_map = _id_maps(d.get("gidMappings"), f"{path}.gidMappings")
    options = R.strings(d.get("options"), f"{path}.options")
    kind = R.str_(d.get("type"), f"{path}.type")
    flags, propagation, data = 0, 0, []
    recursive: list[str] = []
    idmap = ""
    tmpcopyup = False
    for i, word in enumerate(options):
        if word in FLAG_WORDS:
            clear, bit = FLAG_WORDS[word]
            flags = flags & ~bit if clear else flags | bit
        elif word in PROPAGATION_WORDS:
            propagation = PROPAGATION_WORDS[word]
        elif word in RECURSIVE_WORDS:
            recursive.append(word)
        elif word in ("idmap", "ridmap"):
            idmap = word
        elif word == "tmpcopyup":
            tmpcopyup = True
        elif word in NOT_YET_WORDS:
            raise FieldError(f"{path}.options[{i}]", f"{word!r} is not supported by pyrunc-oci yet (docs/oci.md)")
        else:
            data.append(word)
    if kind in ("", "none") and flags & MS_BIND:
        kind = "bind"  # runc: a mount with bind/rbind among its options is a bind whatever its type says
    if kind == "bind" and not flags & MS_BIND:
        flags |= MS_BIND
    if kind not in MOUNT_TYPES:
        raise FieldError(f"{path}.type", f"unsupported mount type {kind!r} (pyrunc-oci mounts {', '.join(MOUNT_TYPES)})")
    source = R.str_(d.get("source"), f"{path}.source")
    if kind == "bind" and not source:
        raise FieldError(f"{path}.source", "a bind mount needs a source")
    if kind != "bind" and flags & MS_BIND:
        kind = "bind"
    if tmpcopyup and kind != "tmpfs":
        raise FieldError(f"{path}.options", "tmpcopyup is for tmpfs mounts only (as runc)")
    if idmap and kind != "bind":
        raise FieldError(f"{path}.options", f"{idmap} is for bind mounts only (as runc)")
    if (uid_map or gid_map) and not idmap:
        raise FieldError(f"{path}.uidMappings", "mappings on a mount need its idmap or ridmap option")
    if bool(uid_map) != bool(gid_map):
        raise FieldError(f"{path}.gidMappings" if uid_map else f"{path}.uidMappings",
                         "an id-mapped mount needs both uidMappings and gidMappings")
    attr_clear, attr_set = combine_attributes(recursive)
    return OciMount(destination=os.path.normpath(dest), type=kind, source=source, flags=flags, data=",".join(data),
                    propagation=propagation, attr_clear=attr_clear, attr_set=attr_set, idmap=idmap,
                    uid_map=uid_map, gid_map=gid_map, tmpcopyup=tmpcopyup)


# ---------------------------------------------------------------------------------------- process
def _capabilities(value: Any, path: str) -> CapabilitySets:
    d = R.obj(value, path)
    sets: dict[str, tuple[str, ...]] = {}
    for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        names = R.strings(d.get(key), f"{path}.{key}")
        for i, name in enumerate(names):
            if name not in capsets.CAP_NUMBERS:
                raise FieldError(f"{path}.{key}[{i}]", f"unknown capability {name!r}")
        sets[key] = capsets.by_number(names)
    return CapabilitySets(**sets)


def _process(value: Any, path: str) -> Process:
    d = R.obj(value, path)
    if not d:
        raise FieldError(path, "is required")
    for key in ("apparmorProfile", "selinuxLabel"):
        if _present(d, key):
            raise _security_module(f"{path}.{key}")
    args = R.strings(d.get("args"), f"{path}.args")
    if not args:
        raise FieldError(f"{path}.args", "must name the program to run")
    cwd = R.str_(d.get("cwd"), f"{path}.cwd")
    if not cwd.startswith("/"):
        raise FieldError(f"{path}.cwd", f"must be an absolute path, not {cwd!r}")
    env = []
    for i, item in enumerate(R.strings(d.get("env"), f"{path}.env")):
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise FieldError(f"{path}.env[{i}]", f"must be KEY=value, not {item!r}")
        env.append((key, val))
    user = R.obj(d.get("user"), f"{path}.user")
    uid = R.int_(user.get("uid", 0), f"{path}.user.uid", 0, (1 << 32) - 2)
    gid = R.int_(user.get("gid", 0), f"{path}.user.gid", 0, (1 << 32) - 2)
    groups = tuple(R.int_(g, f"{path}.user.additionalGids[{i}]", 0, (1 << 32) - 2)
                   for i, g in enumerate(R.lst(user.get("additionalGids"), f"{path}.user.additionalGids")))
    umask = R.opt_int(user.get("umask"), f"{path}.user.umask", 0, 0o777)
    rlimits, seen = [], set()
    for i, r in enumerate(R.lst(d.get("rlimits"), f"{path}.rlimits")):
        rp = f"{path}.rlimits[{i}]"
        rd = R.obj(r, rp)
        kind = R.str_(rd.get("type"), f"{rp}.type")
        if kind not in RLIMITS:
            raise FieldError(f"{rp}.type", f"unknown rlimit {kind!r}")
        if kind in seen:
            raise FieldError(f"{rp}.type", f"{kind} is given twice")
        seen.add(kind)
        soft = R.int_(rd.get("soft"), f"{rp}.soft", 0)
        hard = R.int_(rd.get("hard"), f"{rp}.hard", 0)
        if soft > hard:
            raise FieldError(f"{rp}.soft", "must not be above hard")
        rlimits.append(Rlimit(kind, soft, hard))
    affinity = R.obj(d.get("execCPUAffinity"), f"{path}.execCPUAffinity")
    console = R.obj(d.get("consoleSize"), f"{path}.consoleSize")
    size = None
    if console:
        size = (R.int_(console.get("height", 0), f"{path}.consoleSize.height", 0, 65535),
                R.int_(console.get("width", 0), f"{path}.consoleSize.width", 0, 65535))
    return Process(
        args=args, env=tuple(env), cwd=os.path.normpath(cwd), uid=uid, gid=gid, additional_gids=groups, umask=umask,
        capabilities=_capabilities(d.get("capabilities"), f"{path}.capabilities"), rlimits=tuple(rlimits),
        no_new_privileges=R.bool_(d.get("noNewPrivileges"), f"{path}.noNewPrivileges"),
        oom_score_adj=R.opt_int(d.get("oomScoreAdj"), f"{path}.oomScoreAdj", -1000, 1000),
        terminal=R.bool_(d.get("terminal"), f"{path}.terminal"), console_size=size,
        io_priority=_io_priority(d.get("ioPriority"), f"{path}.ioPriority"),
        scheduler=_scheduler(d.get("scheduler"), f"{path}.scheduler"),
        cpu_affinity_initial=_cpu_list(affinity.get("initial"), f"{path}.execCPUAffinity.initial"),
        cpu_affinity_final=_cpu_list(affinity.get("final"), f"{path}.execCPUAffinity.final"))


def _cpu_list(value: Any, path: str) -> tuple[int, ...]:
    """"0-3,7" -> (0, 1, 2, 3, 7), the kernel's list format."""
    text = R.str_(value, path).strip()
    if not text:
        return ()
    out: set[int] = set()
    for part in text.split(","):
        import re  # here: re (with enum) is ~3 ms of every create, and few configs have CPU lists

        m = re.match(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise FieldError(path, f"must be a CPU list such as 0-3,7, not {text!r}")
        out.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    return tuple(sorted(out))


IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_IDLE": 5}
SCHED_RESET_ON_FORK = 0x40000000


def _io_priority(value: Any, path: str) -> tuple[int, int] | None:
    d = R.obj(value, path)
    if not d:
        return None
    kind = R.str_(d.get("class"), f"{path}.class")
    if kind not in IOPRIO_CLASSES:
        raise FieldError(f"{path}.class", f"must be one of {', '.join(IOPRIO_CLASSES)}, not {kind!r}")
    return IOPRIO_CLASSES[kind], R.int_(d.get("priority", 0), f"{path}.priority", 0, 7)


def _scheduler(value: Any, path: str) -> Scheduler | None:
    d = R.obj(value, path)
    if not d:
        return None
    name = R.str_(d.get("policy"), f"{path}.policy")
    if name in ("SCHED_DEADLINE", "SCHED_ISO"):
        raise FieldError(f"{path}.policy", f"{name} is not supported by pyrunc-oci yet (docs/oci.md)")
    if name not in SCHED_POLICIES:
        raise FieldError(f"{path}.policy", f"must be one of {', '.join(SCHED_POLICIES)}, not {name!r}")
    policy = SCHED_POLICIES[name]
    for i, flag in enumerate(R.strings(d.get("flags"), f"{path}.flags")):
        if flag != "SCHED_FLAG_RESET_ON_FORK":
            raise FieldError(f"{path}.flags[{i}]", f"{flag!r} is not supported by pyrunc-oci yet (docs/oci.md)")
        policy |= SCHED_RESET_ON_FORK
    for key in ("runtime", "deadline", "period"):
        if d.get(key) not in (None, 0):
            raise FieldError(f"{path}.{key}", "is for SCHED_DEADLINE only")
    realtime = name in ("SCHED_FIFO", "SCHED_RR")
    priority = R.int_(d.get("priority", 0), f"{path}.priority", 1 if realtime else 0, 99 if realtime else 0)
    nice = R.int_(d.get("nice", 0), f"{path}.nice", -20, 19)
    return Scheduler(policy, nice, priority)


def _security_module(path: str) -> FieldError:
    """AppArmor and SELinux: pyrunc-oci applies neither; the message says whether the host has it at all."""
    apparmor = path.endswith("apparmorProfile")
    where = "/sys/module/apparmor/parameters/enabled" if apparmor else "/sys/fs/selinux/enforce"
    try:
        with open(where, encoding="ascii") as f:
            enabled = f.read().strip() in ("Y", "0", "1")
    except OSError:
        enabled = False
    name = "AppArmor" if apparmor else "SELinux"
    if not enabled:
        return FieldError(path, f"{name} is not enabled on this host")
    return FieldError(path, f"{name} is not supported by pyrunc-oci yet (docs/oci.md)")


MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3, "MPOL_LOCAL": 4,
              "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_STATIC_NODES": 1 << 15, "MPOL_F_RELATIVE_NODES": 1 << 14, "MPOL_F_NUMA_BALANCING": 1 << 13}


def _memory_policy(value: Any, path: str) -> tuple[int, tuple[int, ...]] | None:
    d = R.obj(value, path)
    if not d:
        return None
    mode = R.str_(d.get("mode"), f"{path}.mode")
    if mode not in MPOL_MODES:
        raise FieldError(f"{path}.mode", f"must be one of {', '.join(MPOL_MODES)}, not {mode!r}")
    nodes = _cpu_list(d.get("nodes"), f"{path}.nodes")
    if mode in ("MPOL_DEFAULT", "MPOL_LOCAL") and nodes:
        raise FieldError(f"{path}.nodes", f"must be empty with {mode}")
    if mode not in ("MPOL_DEFAULT", "MPOL_LOCAL", "MPOL_PREFERRED") and not nodes:
        raise FieldError(f"{path}.nodes", f"{mode} needs nodes")
    flags = 0
    for i, flag in enumerate(R.strings(d.get("flags"), f"{path}.flags")):
        if flag not in MPOL_FLAGS:
            raise FieldError(f"{path}.flags[{i}]", f"must be one of {', '.join(MPOL_FLAGS)}, not {flag!r}")
        flags |= MPOL_FLAGS[flag]
    if any(n >= 1024 for n in nodes):
        raise FieldError(f"{path}.nodes", "NUMA nodes go up to 1023")
    return MPOL_MODES[mode] | flags, nodes


def _rootfs_propagation(value: Any, path: str) -> int:
    word = R.str_(value, path)
    if not word:
        return 0
    if word not in PROPAGATION_WORDS:
        raise FieldError(path, f"must be one of {', '.join(PROPAGATION_WORDS)}, not {word!r}")
    return PROPAGATION_WORDS[word]


PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


def _personality(value: Any, path: str) -> int | None:
    d = R.obj(value, path)
    if not d:
        return None
    domain = R.str_(d.get("domain"), f"{path}.domain")
    if domain not in PERSONALITY_DOMAINS:
        raise FieldError(f"{path}.domain", f"must be LINUX or LINUX32, not {domain!r}")
    if R.strings(d.get("flags"), f"{path}.flags"):
        raise FieldError(f"{path}.flags", "personality flags are not supported by pyrunc-oci (docs/oci.md)")
    return PERSONALITY_DOMAINS[domain]


# ---------------------------------------------------------------------------------------- linux
def _namespaces(value: Any, path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, ns in enumerate(R.lst(value, path)):
        np = f"{path}[{i}]"
        d = R.obj(ns, np)
        kind = R.str_(d.get("type"), f"{np}.type")
        if kind not in NAMESPACE_KINDS:
            raise FieldError(f"{np}.type", f"unknown namespace type {kind!r}")
        if kind in out:
            raise FieldError(f"{np}.type", f"the {kind} namespace is given twice")
        where = R.str_(d.get("path"), f"{np}.path")
        if where and not where.startswith("/"):
            raise FieldError(f"{np}.path", f"must be an absolute path, not {where!r}")
        out[kind] = where or "new"
    if "mount" not in out:
        raise FieldError(path, "pyrunc-oci needs a mount namespace, new or joined by path (a mount entry)")
    return out


def _id_maps(value: Any, path: str) -> tuple[IdMap, ...]:
    out = []
    for i, m in enumerate(R.lst(value, path)):
        mp = f"{path}[{i}]"
        d = R.obj(m, mp)
        c = R.int_(d.get("containerID"), f"{mp}.containerID", 0, (1 << 32) - 2)
        h = R.int_(d.get("hostID"), f"{mp}.hostID", 0, (1 << 32) - 2)
        size = R.int_(d.get("size"), f"{mp}.size", 1, (1 << 32) - 1)
        out.append(IdMap(c, h, size))
    if len(out) > 340:
        raise FieldError(path, "the kernel takes at most 340 lines")
    return tuple(out)


def _user_namespace(linux: dict[str, Any], namespaces: dict[str, str]) -> tuple[tuple[IdMap, ...], tuple[IdMap, ...]]:
    uid_map = _id_maps(linux.get("uidMappings"), "linux.uidMappings")
    gid_map = _id_maps(linux.get("gidMappings"), "linux.gidMappings")
    user = namespaces.get("user")
    if user == "new":
        if not uid_map:
            raise FieldError("linux.uidMappings", "a new user namespace needs uid mappings")
        if not gid_map:
            raise FieldError("linux.gidMappings", "a new user namespace needs gid mappings")
    elif uid_map or gid_map:
        where = "linux.uidMappings" if uid_map else "linux.gidMappings"
        raise FieldError(where, "needs a new user namespace (a user entry without path in linux.namespaces)"
                         if user is None else "cannot be given when the user namespace is joined by path")
    return uid_map, gid_map


def _time_offsets(value: Any, path: str, namespaces: dict[str, str]) -> tuple[tuple[str, int, int], ...]:
    d = R.obj(value, path)
    if d and namespaces.get("time") != "new":
        raise FieldError(path, "needs a new time namespace (a time entry without path in linux.namespaces)")
    out = []
    for clock, offset in sorted(d.items()):
        if clock not in CLOCKS:
            raise FieldError(f"{path}.{clock}", f"unknown clock (a time namespace offsets {', '.join(CLOCKS)})")
        o = R.obj(offset, f"{path}.{clock}")
        out.append((clock, R.int_(o.get("secs", 0), f"{path}.{clock}.secs", -(1 << 63), (1 << 63) - 1),
                    R.int_(o.get("nanosecs", 0), f"{path}.{clock}.nanosecs", 0, 999_999_999)))
    return tuple(out)


def _devices(value: Any, path: str) -> tuple[Device, ...]:
    out = []
    for i, dev in enumerate(R.lst(value, path)):
        dp = f"{path}[{i}]"
        d = R.obj(dev, dp)
        where = R.str_(d.get("path"), f"{dp}.path")
        if not where.startswith("/dev/"):
            raise FieldError(f"{dp}.path", f"must be a path under /dev, not {where!r}")
        kind = R.str_(d.get("type"), f"{dp}.type")
        if kind not in ("c", "b", "u", "p"):
            raise FieldError(f"{dp}.type", f"must be c, b, u or p, not {kind!r}")
        major = R.int_(d.get("major", 0), f"{dp}.major", 0, (1 << 31) - 1)
        minor = R.int_(d.get("minor", 0), f"{dp}.minor", 0, (1 << 31) - 1)
        if kind != "p" and (d.get("major") is None or d.get("minor") is None):
            raise FieldError(dp, "a character or block device needs major and minor")
        mode = R.opt_int(d.get("fileMode"), f"{dp}.fileMode", 0, 0o7777)
        out.append(Device(os.path.normpath(where), "c" if kind == "u" else kind, major, minor,
                          0o666 if mode is None else mode,
                          R.int_(d.get("uid", 0), f"{dp}.uid", 0), R.int_(d.get("gid", 0), f"{dp}.gid", 0)))
    return tuple(out)


def _device_rules(value: Any, path: str, devices: tuple[Device, ...]) -> tuple[DeviceRule, ...]:
    """The spec's rules, then an allow for each node of linux.devices and runc's built-in list (runc does
    the same). On both cgroup versions pyrunc applies a first rule for all devices then exceptions that do
    the opposite (cgroups/devices.py): other shapes are refused for now."""
    rules: list[DeviceRule] = []
    for i, rule in enumerate(R.lst(value, path)):
        rp = f"{path}[{i}]"
        d = R.obj(rule, rp)
        allow = R.bool_(d.get("allow"), f"{rp}.allow")
        kind = R.str_(d.get("type"), f"{rp}.type", "a")
        major = R.opt_int(d.get("major"), f"{rp}.major", -1, (1 << 31) - 1)
        minor = R.opt_int(d.get("minor"), f"{rp}.minor", -1, (1 << 31) - 1)
        access = R.str_(d.get("access"), f"{rp}.access", "rwm") or "rwm"
        try:
            rules.append(DeviceRule(kind, None if major in (None, -1) else major,
                                    None if minor in (None, -1) else minor, access, allow))
        except ValueError as e:
            raise FieldError(rp, str(e)) from None
    if not rules:
        return (ALLOW_ALL,)  # runc: no rules, no restriction
    if rules[0] == DENY_ALL:
        for dev in devices:
            if dev.kind in ("c", "b"):
                rules.append(DeviceRule(dev.kind, dev.major, dev.minor, "rwm", True))
        rules += [r for r in DEFAULT_ALLOWED if r not in rules]
    # Drop exceptions that repeat an earlier one (a config's own allow of /dev/null and runc's list).
    unique: list[DeviceRule] = []
    for r in rules:
        if r not in unique:
            unique.append(r)
    try:
        split_default(unique)
    except ValueError as e:
        raise FieldError(path, f"{e}: other rule shapes are not supported by pyrunc-oci yet") from None
    return tuple(unique)


THROTTLES = {"throttleReadBpsDevice": "read_bps", "throttleWriteBpsDevice": "write_bps",
             "throttleReadIOPSDevice": "read_iops", "throttleWriteIOPSDevice": "write_iops"}


def _block_io(value: Any, path: str) -> dict[str, Any]:
    d = R.obj(value, path)
    out: dict[str, Any] = {
        "blkio_weight": R.opt_int(d.get("weight"), f"{path}.weight", 10, 1000),
        "blkio_leaf_weight": R.opt_int(d.get("leafWeight"), f"{path}.leafWeight", 10, 1000)}
    weights = []
    for i, w in enumerate(R.lst(d.get("weightDevice"), f"{path}.weightDevice")):
        wp = f"{path}.weightDevice[{i}]"
        wd = R.obj(w, wp)
        weights.append((R.int_(wd.get("major"), f"{wp}.major", 0), R.int_(wd.get("minor"), f"{wp}.minor", 0),
                        R.opt_int(wd.get("weight"), f"{wp}.weight", 10, 1000),
                        R.opt_int(wd.get("leafWeight"), f"{wp}.leafWeight", 10, 1000)))
    throttles = []
    for key, which in THROTTLES.items():
        for i, t in enumerate(R.lst(d.get(key), f"{path}.{key}")):
            tp = f"{path}.{key}[{i}]"
            td = R.obj(t, tp)
            throttles.append((which, R.int_(td.get("major"), f"{tp}.major", 0), R.int_(td.get("minor"), f"{tp}.minor", 0),
                              R.int_(td.get("rate"), f"{tp}.rate", 0)))
    out["blkio_weight_devices"], out["blkio_throttles"] = tuple(weights), tuple(throttles)
    return out


def _hugepages(value: Any, path: str) -> tuple[tuple[str, int], ...]:
    out = []
    for i, h in enumerate(R.lst(value, path)):
        hp = f"{path}[{i}]"
        hd = R.obj(h, hp)
        size = R.str_(hd.get("pageSize"), f"{hp}.pageSize")
        if not (size[:-2].isdigit() and size[:-2].isascii() and size[-2:] in ("KB", "MB", "GB")):
            raise FieldError(f"{hp}.pageSize", f"must be a size such as 2MB or 1GB, not {size!r}")
        out.append((size, R.int_(hd.get("limit"), f"{hp}.limit", 0)))
    return tuple(out)


def _network(value: Any, path: str) -> dict[str, Any]:
    d = R.obj(value, path)
    priorities = []
    for i, p in enumerate(R.lst(d.get("priorities"), f"{path}.priorities")):
        pp = f"{path}.priorities[{i}]"
        pd = R.obj(p, pp)
        name = R.str_(pd.get("name"), f"{pp}.name")
        if not name or any(c.isspace() for c in name) or "/" in name:
            raise FieldError(f"{pp}.name", f"must be an interface name, not {name!r}")
        priorities.append((name, R.int_(pd.get("priority"), f"{pp}.priority", 0, (1 << 32) - 1)))
    return {"net_class_id": R.opt_int(d.get("classID"), f"{path}.classID", 0, (1 << 32) - 1),
            "net_priorities": tuple(priorities)}


def _unified(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    d = R.obj(value, path)
    for key, val in d.items():
        R.str_(val, f"{path}.{key}")
        import re  # here, not at the top: few configs have unified or sysctl entries (re with enum: ~3 ms)

        if not re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_.]+", key):
            raise FieldError(f"{path}.{key}", "must name a cgroup v2 interface file (controller.name)")
        if key.startswith("cgroup."):
            raise FieldError(f"{path}.{key}", "cgroup core files cannot be written through unified (as runc)")
    return tuple(sorted(d.items()))


def _resources(value: Any, path: str, devices: tuple[Device, ...]) -> Resources:
    d = R.obj(value, path)
    if _present(d, "rdma"):
        raise _not_yet(f"{path}.rdma")
    mem = R.obj(d.get("memory"), f"{path}.memory")
    for key in NOT_YET_MEMORY:
        if mem.get(key) not in (None, False):
            raise FieldError(f"{path}.memory.{key}", "deprecated by the runtime spec: not supported by pyrunc-oci")
    # checkBeforeUpdate only matters to `update`; read here for its type.
    R.bool_(mem.get("checkBeforeUpdate"), f"{path}.memory.checkBeforeUpdate")
    cpu = R.obj(d.get("cpu"), f"{path}.cpu")
    pids = R.obj(d.get("pids"), f"{path}.pids")
    extra: dict[str, Any] = {
        "swappiness": R.opt_int(mem.get("swappiness"), f"{path}.memory.swappiness", 0, 100),
        "disable_oom_killer": R.bool_(mem.get("disableOOMKiller"), f"{path}.memory.disableOOMKiller"),
        "cpu_rt_runtime": R.opt_int(cpu.get("realtimeRuntime"), f"{path}.cpu.realtimeRuntime", -1),
        "cpu_rt_period": R.opt_int(cpu.get("realtimePeriod"), f"{path}.cpu.realtimePeriod", 1),
        "cpu_burst": R.opt_int(cpu.get("burst"), f"{path}.cpu.burst", 0),
        "cpu_idle": R.opt_int(cpu.get("idle"), f"{path}.cpu.idle", 0, 1),
        "hugepages": _hugepages(d.get("hugepageLimits"), f"{path}.hugepageLimits"),
        "unified": _unified(d.get("unified"), f"{path}.unified"),
        **_block_io(d.get("blockIO"), f"{path}.blockIO"), **_network(d.get("network"), f"{path}.network")}
    out = Resources(
        memory_limit=R.opt_int(mem.get("limit"), f"{path}.memory.limit", -1),
        memory_reservation=R.opt_int(mem.get("reservation"), f"{path}.memory.reservation", -1),
        memory_swap=R.opt_int(mem.get("swap"), f"{path}.memory.swap", -1),
        cpu_shares=R.opt_int(cpu.get("shares"), f"{path}.cpu.shares", 0, 262144),
        cpu_quota=R.opt_int(cpu.get("quota"), f"{path}.cpu.quota", -1),
        cpu_period=R.opt_int(cpu.get("period"), f"{path}.cpu.period", 0, 1_000_000),
        cpus=R.str_(cpu.get("cpus"), f"{path}.cpu.cpus"), mems=R.str_(cpu.get("mems"), f"{path}.cpu.mems"),
        pids_limit=R.opt_int(pids.get("limit"), f"{path}.pids.limit", -1),
        devices=_device_rules(d.get("devices"), f"{path}.devices", devices), **extra)
    if out.memory_swap not in (None, -1) and out.memory_limit not in (None, -1) and out.memory_swap < out.memory_limit:
        raise FieldError(f"{path}.memory.swap", "must not be below memory.limit (it counts memory and swap together)")
    return out


def _hooks(value: Any, path: str) -> dict[str, tuple[Hook, ...]]:
    d = R.obj(value, path)
    out: dict[str, tuple[Hook, ...]] = {}
    for kind in HOOK_KINDS:
        hooks = []
        for i, h in enumerate(R.lst(d.get(kind), f"{path}.{kind}")):
            hp = f"{path}.{kind}[{i}]"
            hd = R.obj(h, hp)
            where = R.str_(hd.get("path"), f"{hp}.path")
            if not where.startswith("/"):
                raise FieldError(f"{hp}.path", f"must be an absolute path, not {where!r}")
            env = R.strings(hd.get("env"), f"{hp}.env")
            for j, item in enumerate(env):
                if "=" not in item:
                    raise FieldError(f"{hp}.env[{j}]", f"must be KEY=value, not {item!r}")
            timeout = R.opt_int(hd.get("timeout"), f"{hp}.timeout", 1, 1 << 31)
            hooks.append(Hook(where, R.strings(hd.get("args"), f"{hp}.args"), env, timeout))
        if hooks:
            out[kind] = tuple(hooks)
    return out


def _paths(value: Any, path: str) -> tuple[str, ...]:
    out = R.strings(value, path)
    for i, p in enumerate(out):
        if not p.startswith("/"):
            raise FieldError(f"{path}[{i}]", f"must be an absolute path, not {p!r}")
    return out


def decode(doc: Any, bundle: str) -> OciConfig:
    """config.json (parsed) of the bundle directory `bundle` -> OciConfig; FieldError names the field."""
    top = R.obj(doc, "config.json")
    version = R.str_(top.get("ociVersion"), "ociVersion")
    if not version.startswith(("1.0.", "1.1.", "1.2.")) and version not in ("1.0", "1.1", "1.2"):
        raise FieldError("ociVersion", f"unsupported version {version!r} (pyrunc-oci reads 1.0 to 1.2)")
    for dotted in NOT_YET:
        if _present(top, dotted):
            raise _not_yet(dotted)
    if _present(top, "linux.mountLabel"):
        raise _security_module("linux.mountLabel")
    root = R.obj(top.get("root"), "root")
    root_path = R.str_(root.get("path"), "root.path")
    if not root_path:
        raise FieldError("root.path", "is required")
    root_path = os.path.normpath(os.path.join(bundle, root_path))
    linux = R.obj(top.get("linux"), "linux")
    if not linux:
        raise FieldError("linux", "is required on Linux")
    namespaces = _namespaces(linux.get("namespaces"), "linux.namespaces")
    hostname = R.str_(top.get("hostname"), "hostname")
    domainname = R.str_(top.get("domainname"), "domainname")
    for name, value in (("hostname", hostname), ("domainname", domainname)):
        if value and namespaces.get("uts") != "new":
            raise FieldError(name, "needs a new uts namespace (as runc: the host's would change)")
    devices = _devices(linux.get("devices"), "linux.devices")
    sysctl = R.obj(linux.get("sysctl"), "linux.sysctl")
    for key, val in sysctl.items():
        R.str_(val, f"linux.sysctl.{key}")
        import re  # here, not at the top: few configs have unified or sysctl entries (re with enum: ~3 ms)

        if not re.fullmatch(r"[a-z0-9_]+([./][a-z0-9_\-]+)+", key):
            raise FieldError(f"linux.sysctl.{key}", "invalid sysctl name")
    seccomp = ""
    if linux.get("seccomp") is not None:
        from pyrunc.security.seccomp import ProfileError, check

        obj = R.obj(linux["seccomp"], "linux.seccomp")
        try:
            check(obj)
        except ProfileError as e:
            raise FieldError("linux.seccomp", str(e)) from None
        seccomp = leanjson.dumps(obj, sort_keys=True)
    annotations = R.obj(top.get("annotations"), "annotations")
    for key, val in annotations.items():
        R.str_(val, f"annotations.{key}")
    uid_map, gid_map = _user_namespace(linux, namespaces)
    mounts = tuple(_mount(m, f"mounts[{i}]") for i, m in enumerate(R.lst(top.get("mounts"), "mounts")))
    for i, m in enumerate(mounts):
        if m.idmap and not m.uid_map and namespaces.get("user") != "new":
            raise FieldError(f"mounts[{i}].options", f"{m.idmap} needs the mount's own uidMappings and gidMappings "
                                                     "or a new user namespace whose mappings it takes")
    time_offsets = _time_offsets(linux.get("timeOffsets"), "linux.timeOffsets", namespaces)
    cgroups_path = R.str_(linux.get("cgroupsPath"), "linux.cgroupsPath")
    if ".." in cgroups_path.split("/"):
        raise FieldError("linux.cgroupsPath", "must not contain ..")
    return OciConfig(
        bundle=bundle, root=root_path, root_readonly=R.bool_(root.get("readonly"), "root.readonly"),
        process=_process(top.get("process"), "process"), hostname=hostname, domainname=domainname,
        mounts=mounts,
        namespaces=namespaces,
        masked_paths=_paths(linux.get("maskedPaths"), "linux.maskedPaths"),
        readonly_paths=_paths(linux.get("readonlyPaths"), "linux.readonlyPaths"),
        resources=_resources(linux.get("resources"), "linux.resources", devices),
        cgroups_path=cgroups_path, devices=devices, sysctl=tuple(sorted(sysctl.items())), seccomp=seccomp,
        annotations=tuple(sorted(annotations.items())), hooks=_hooks(top.get("hooks"), "hooks"),
        uid_map=uid_map, gid_map=gid_map, time_offsets=time_offsets,
        personality=_personality(linux.get("personality"), "linux.personality"),
        memory_policy=_memory_policy(linux.get("memoryPolicy"), "linux.memoryPolicy"),
        rootfs_propagation=_rootfs_propagation(linux.get("rootfsPropagation"), "linux.rootfsPropagation"))


def read_json_file(path: str, where: str, stdin_dash: bool = False) -> Any:
    """The JSON document of the file `path` (with `stdin_dash`, "-" is standard input: runc's `update -r -`);
    an error names `where` (the file, or the flag that gave it) in one line."""
    import sys

    try:
        if stdin_dash and path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        raise FieldError(where, e.strerror or str(e)) from None
    try:
        return leanjson.loads(text)
    except ValueError as e:
        raise FieldError(where, f"invalid JSON: {e}") from None


def load(bundle: str) -> OciConfig:
    """Read and decode `<bundle>/config.json`."""
    where = os.path.join(bundle, "config.json")
    return decode(read_json_file(where, where), os.path.abspath(bundle))


def signal_number(text: str) -> int:
    """`KILL`, `SIGKILL` or `9` (runc's kill accepts the three)."""
    import signal  # `kill` only

    if text.isdigit():
        number = int(text)
        if not 0 < number < signal.NSIG:
            raise FieldError("signal", f"invalid signal {text!r}")
        return number
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    found = getattr(signal, name, None)
    if not isinstance(found, signal.Signals):
        raise FieldError("signal", f"unknown signal {text!r}")
    return int(found)
