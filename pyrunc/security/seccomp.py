"""Seccomp profiles: choosing one for a container, resolving it to an OCI `linux.seccomp` object, and
compiling that into a kernel filter with libseccomp.

Three steps, kept apart so the first two are pure and tested without root:

1. `select_profile` applies the kubelet's and containerd's rules (container over pod, the node's
   `seccomp_default`, privileged = unconfined) and loads RuntimeDefault (runtime_default.json) or a
   Localhost file from the node's `seccomp_profile_root`.
2. `resolve` turns a profile as people write them (Docker's format: `archMap`, per-rule `includes` /
   `excludes` by capability, architecture and kernel version) into the plain OCI object stored in
   the container's config.json, and `check` refuses what cannot be compiled, naming the field.
3. `compile_filter` builds the libseccomp filter (pyseccomp, ctypes over libseccomp2). It runs
   where the host's libraries are reachable (before pivot_root or chroot); the filter is loaded by
   pyrunc/security/process.py as late as the kernel allows.
"""

from __future__ import annotations

import errno
import json
import os
from typing import Any, Mapping

from pyrunc.config import DEFAULT_SECCOMP_ROOT as DEFAULT_PROFILE_ROOT
from pyrunc.errors import ContainerConfigError
from pyrunc.linux.host import kernel_version

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
           "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ")
FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
ARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
          "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
          "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
          "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64")

# uname -m -> (libseccomp's name of the native ABI, Go's GOARCH: the names `includes.arches` uses).
_MACHINES = {
    "x86_64": ("SCMP_ARCH_X86_64", "amd64"), "i686": ("SCMP_ARCH_X86", "386"), "i386": ("SCMP_ARCH_X86", "386"),
    "aarch64": ("SCMP_ARCH_AARCH64", "arm64"), "armv7l": ("SCMP_ARCH_ARM", "arm"), "ppc64le": ("SCMP_ARCH_PPC64LE", "ppc64le"),
    "s390x": ("SCMP_ARCH_S390X", "s390x"), "riscv64": ("SCMP_ARCH_RISCV64", "riscv64"), "mips64": ("SCMP_ARCH_MIPS64", "mips64"),
}


class ProfileError(ValueError):
    """A profile that cannot be compiled; `path` names the field (`syscalls[3].action`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)


def machine() -> tuple[str, str]:
    """(SCMP arch, GOARCH) of this machine."""
    return _MACHINES.get(os.uname().machine, ("", os.uname().machine))


def _version(text: str) -> tuple[int, int]:
    major, _, minor = str(text).partition(".")
    return int(major), int(minor.partition(".")[0] or 0)


# ------------------------------------------------------------------------------- 1. which profile
_runtime_default_text: str | None = None


def runtime_default() -> dict[str, Any]:
    """containerd's default profile, unresolved (includes/excludes still in it); a fresh copy each call.

    The file is read once per process: the supervisor reads it at start (preload), so an upgrade
    that replaces or removes the package under a running supervisor cannot take it away."""
    global _runtime_default_text
    if _runtime_default_text is None:
        with open(os.path.join(os.path.dirname(__file__), "runtime_default.json"), encoding="utf-8") as f:
            _runtime_default_text = f.read()
    return json.loads(_runtime_default_text)  # type: ignore[no-any-return]


def effective_profile(container_sc: Any, pod_sc: Any, seccomp_default: bool) -> tuple[str, str]:
    """(type, localhostProfile) for a container: its own seccompProfile, else the pod's, else the
    node's default (RuntimeDefault with `seccomp_default`, like the kubelet's --seccomp-default;
    Unconfined otherwise, the kubelet's default)."""
    for sc in (container_sc, pod_sc):
        profile = getattr(sc, "seccomp_profile", None) if sc is not None else None
        if profile is not None:
            return profile.type, profile.localhost_profile
    return ("RuntimeDefault" if seccomp_default else "Unconfined"), ""


def load_localhost(root: str, name: str) -> dict[str, Any]:
    """A Localhost profile: the JSON file `name` under the node's profile directory, resolved beneath
    it (no `..`, no symlink out of it). Raises ContainerConfigError (the container waits with
    CreateContainerConfigError, as the kubelet does when it cannot read the profile)."""
    from pyrunc.linux import safepath

    where = os.path.join(root, name)
    try:
        root_fd = safepath.open_dir(root)
    except OSError as e:
        raise ContainerConfigError(f'cannot load seccomp profile "{where}": profile directory {root}: '
                                   f"{e.strerror}") from None
    try:
        fd = safepath.open_in(root_fd, name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, beneath=True)
    except OSError as e:
        reason = "escapes the profile directory" if e.errno == errno.EXDEV else e.strerror
        raise ContainerConfigError(f'cannot load seccomp profile "{where}": {reason}') from None
    finally:
        os.close(root_fd)
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ContainerConfigError(f'cannot load seccomp profile "{where}": not a regular file')
        data = os.read(fd, 4 << 20)
    finally:
        os.close(fd)
    try:
        profile = json.loads(data)
    except ValueError as e:
        raise ContainerConfigError(f'cannot load seccomp profile "{where}": invalid JSON: {e}') from None
    if not isinstance(profile, dict):
        raise ContainerConfigError(f'cannot load seccomp profile "{where}": not a JSON object')
    return profile


# ------------------------------------------------------------------------------- 2. resolve, check
def _included(rule: Mapping[str, Any], caps: set[str], goarch: str, kernel: tuple[int, int]) -> bool:
    """Docker's/containerd's conditions: every `includes` must hold, no `excludes` may."""
    inc = rule.get("includes") or {}
    exc = rule.get("excludes") or {}
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if inc.get("minKernel") and kernel < _version(inc["minKernel"]):
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    if exc.get("arches") and goarch in exc["arches"]:
        return False
    if exc.get("minKernel") and kernel >= _version(exc["minKernel"]):
        return False
    return True


def resolve(profile: Mapping[str, Any], bounding: tuple[str, ...] | list[str], *, native: tuple[str, str] | None = None,
            kernel: tuple[int, int] | None = None) -> dict[str, Any]:
    """A profile with `archMap`, `includes`/`excludes` and Docker's singular `name` -> the OCI
    `linux.seccomp` object for this container (its bounding set), machine and kernel."""
    scmp_arch, goarch = native or machine()
    kernel = kernel or kernel_version()
    caps = set(bounding)
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction")}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches = list(profile.get("architectures") or ())
    for entry in profile.get("archMap") or ():
        if isinstance(entry, dict) and entry.get("architecture") == scmp_arch:
            arches = [scmp_arch, *(entry.get("subArchitectures") or ())]
    if arches:
        out["architectures"] = arches
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    rules = []
    for rule in profile.get("syscalls") or ():
        if not isinstance(rule, dict):
            rules.append(rule)  # check() names it
            continue
        if not _included(rule, caps, goarch, kernel):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        kept = {"names": list(names), "action": rule.get("action")}
        for key in ("errnoRet", "args"):
            if rule.get(key) is not None:
                kept[key] = rule[key]
        rules.append(kept)
    out["syscalls"] = rules
    return out


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check(oci: Mapping[str, Any]) -> None:
    """Refuse what runc would refuse; raises ProfileError naming the field."""
    if oci.get("defaultAction") not in ACTIONS:
        raise ProfileError("defaultAction", f"unsupported value {oci.get('defaultAction')!r}")
    if oci.get("defaultErrnoRet") is not None and not _is_int(oci["defaultErrnoRet"], 0, 4095):
        raise ProfileError("defaultErrnoRet", "must be an errno number")
    for i, arch in enumerate(oci.get("architectures") or ()):
        if arch not in ARCHES:
            raise ProfileError(f"architectures[{i}]", f"unknown architecture {arch!r}")
    for i, flag in enumerate(oci.get("flags") or ()):
        if flag not in FLAGS:
            raise ProfileError(f"flags[{i}]", f"unsupported flag {flag!r}")
    syscalls = oci.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise ProfileError("syscalls", "must be a list")
    for i, rule in enumerate(syscalls):
        where = f"syscalls[{i}]"
        if not isinstance(rule, dict):
            raise ProfileError(where, "must be an object")
        names = rule.get("names")
        if not names or not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ProfileError(f"{where}.names", "must be a non-empty list of syscall names")
        if rule.get("action") not in ACTIONS:
            raise ProfileError(f"{where}.action", f"unsupported value {rule.get('action')!r}")
        if rule.get("errnoRet") is not None and not _is_int(rule["errnoRet"], 0, 4095):
            raise ProfileError(f"{where}.errnoRet", "must be an errno number")
        args = rule.get("args") or []
        if not isinstance(args, list) or len(args) > 6:
            raise ProfileError(f"{where}.args", "must be a list of at most 6 conditions")
        for j, arg in enumerate(args):
            apath = f"{where}.args[{j}]"
            if not isinstance(arg, dict) or not _is_int(arg.get("index"), 0, 5):
                raise ProfileError(f"{apath}.index", "must be 0 to 5")
            if arg.get("op") not in OPERATORS:
                raise ProfileError(f"{apath}.op", f"unsupported value {arg.get('op')!r}")
            for key in ("value", "valueTwo"):
                if arg.get(key) is not None and not _is_int(arg[key], 0, (1 << 64) - 1):
                    raise ProfileError(f"{apath}.{key}", "must be an unsigned 64-bit number")


def select_profile(container_sc: Any, pod_sc: Any, *, privileged: bool, bounding: tuple[str, ...],
                   profile_root: str = DEFAULT_PROFILE_ROOT, seccomp_default: bool = False) -> str:
    """The container's resolved OCI `linux.seccomp` as JSON text, "" for unconfined."""
    if privileged:  # containerd: "Do not set seccomp profile when container is privileged"
        return ""
    kind, name = effective_profile(container_sc, pod_sc, seccomp_default)
    if kind == "Unconfined":
        return ""
    if kind == "RuntimeDefault":
        profile = runtime_default()
        where = "RuntimeDefault"
    else:
        profile = load_localhost(profile_root, name)
        where = f'seccomp profile "{os.path.join(profile_root, name)}"'
    oci = resolve(profile, bounding)
    try:
        check(oci)
    except ProfileError as e:
        raise ContainerConfigError(f"{where}: {e}") from None
    return json.dumps(oci, sort_keys=True)


# ------------------------------------------------------------------------------- 3. compile
def _pyseccomp() -> Any:
    """Import pyseccomp, handing it the libraries' fixed sonames.

    On import it looks for libc and libseccomp with ctypes.util.find_library, which runs
    `ldconfig -p` in a subprocess: 25 ms, and a child process of a half-built container or of the
    supervisor's forked helpers. The sonames are part of the libraries' ABI, so give them directly.
    """
    import sys

    if "pyseccomp" in sys.modules:
        return sys.modules["pyseccomp"]
    import ctypes.util

    real = ctypes.util.find_library
    sonames = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}
    ctypes.util.find_library = lambda name: sonames.get(name) or real(name)
    try:
        import pyseccomp
    except OSError as e:
        raise RuntimeError(f"seccomp needs libseccomp2 (apt-get install libseccomp2): {e}") from None
    finally:
        ctypes.util.find_library = real
    return pyseccomp


def compile_filter(oci: Mapping[str, Any]) -> Any:
    """A pyseccomp.SyscallFilter for a checked OCI object, not loaded yet.

    libseccomp does the hard parts: the syscall tables of every architecture, the pseudo-syscalls of
    multiplexers (socketcall on x86), the BPF layout. As runc does: syscalls libseccomp does not know
    (newer than it) are skipped, rules whose action is the default are skipped (libseccomp refuses
    them), repeated conditions on one argument become separate rules (an OR), and the filter does not
    set no_new_privs by itself (that is the container's allowPrivilegeEscalation's to decide).
    """
    ps = _pyseccomp()

    def action(name: str, errno_ret: int | None) -> int:
        actions: dict[str, int] = {
            "SCMP_ACT_KILL": ps.KILL_THREAD, "SCMP_ACT_KILL_THREAD": ps.KILL_THREAD,
            "SCMP_ACT_KILL_PROCESS": ps.KILL_PROCESS, "SCMP_ACT_TRAP": ps.TRAP, "SCMP_ACT_ALLOW": ps.ALLOW,
            "SCMP_ACT_LOG": ps.LOG,
            "SCMP_ACT_ERRNO": ps.ERRNO(errno.EPERM if errno_ret is None else errno_ret),
            "SCMP_ACT_TRACE": ps.TRACE(errno.EPERM if errno_ret is None else errno_ret),
        }
        return actions[name]

    ops = {"SCMP_CMP_NE": ps.NE, "SCMP_CMP_LT": ps.LT, "SCMP_CMP_LE": ps.LE, "SCMP_CMP_EQ": ps.EQ,
           "SCMP_CMP_GE": ps.GE, "SCMP_CMP_GT": ps.GT, "SCMP_CMP_MASKED_EQ": ps.MASKED_EQ}
    default = action(oci["defaultAction"], oci.get("defaultErrnoRet"))
    flt = ps.SyscallFilter(default)
    flt.set_attr(ps.Attr.CTL_NNP, 0)
    for arch in oci.get("architectures") or ():
        number = getattr(ps.Arch, arch[len("SCMP_ARCH_"):])
        if not flt.exist_arch(number):
            flt.add_arch(number)
    flags = set(oci.get("flags") or ())
    if "SECCOMP_FILTER_FLAG_LOG" in flags:
        flt.set_attr(ps.Attr.CTL_LOG, 1)
    if "SECCOMP_FILTER_FLAG_SPEC_ALLOW" in flags:
        flt.set_attr(ps.Attr.CTL_SSB, 1)
    for i, rule in enumerate(oci.get("syscalls") or ()):
        act = action(rule["action"], rule.get("errnoRet"))
        if act == default:
            continue
        conds = [ps.Arg(a["index"], ops[a["op"]], a.get("value") or 0, a.get("valueTwo") or 0)
                 for a in rule.get("args") or ()]
        indexes = [a["index"] for a in rule.get("args") or ()]
        groups = [[c] for c in conds] if len(set(indexes)) < len(indexes) else [conds]
        for name in rule["names"]:
            number = ps.resolve_syscall(ps.Arch.NATIVE, name)
            if number == -1:  # __NR_SCMP_ERROR: a syscall this libseccomp does not know
                continue
            for group in groups:
                try:
                    flt.add_rule(act, number, *group)
                except OSError as e:
                    raise ProfileError(f"syscalls[{i}]", f"{name}: {e.strerror}") from None
    return flt
