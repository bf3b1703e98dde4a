"""Seccomp profiles: which one a container gets, how a profile is resolved and checked, what is compiled.

No root: compiling a filter with libseccomp needs none (only loading it does, and the integration tests
load them into real containers). The compiled filter is read back as libseccomp's PFC text.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pyrunc.errors import ContainerConfigError, SpecError
from pyrunc.security import caps
from pyrunc.security import seccomp as sp
from pyrunc.spec import pod_from_dict
from pyrunc.spec.model import SeccompProfile, SecurityContext

X86 = ("SCMP_ARCH_X86_64", "amd64")
ARM = ("SCMP_ARCH_AARCH64", "arm64")
DEFAULT = caps.by_number(caps.DEFAULT_CAPS)


def names_allowed(oci: dict[str, Any]) -> set[str]:
    """Syscalls allowed without conditions."""
    return {n for r in oci["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") for n in r["names"]}


def rules_for(oci: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in oci["syscalls"] if name in r["names"]]


# ------------------------------------------------------------------------------- which profile
def _sc(kind: str | None, name: str = "") -> SecurityContext | None:
    return SecurityContext(seccomp_profile=SeccompProfile(kind, name)) if kind else SecurityContext()


@pytest.mark.parametrize("container, pod, node_default, expected", [
    (None, None, False, "Unconfined"),  # the kubelet's default
    (None, None, True, "RuntimeDefault"),  # --seccomp-default
    (None, "RuntimeDefault", False, "RuntimeDefault"),
    ("Unconfined", "RuntimeDefault", True, "Unconfined"),  # the container wins over the pod
    ("RuntimeDefault", "Unconfined", False, "RuntimeDefault"),
    (None, "Unconfined", True, "Unconfined"),  # the pod wins over the node
])
def test_effective_profile(container: str | None, pod: str | None, node_default: bool, expected: str) -> None:
    assert sp.effective_profile(_sc(container), _sc(pod), node_default)[0] == expected


def test_privileged_is_unconfined_even_when_asked() -> None:
    assert sp.select_profile(_sc("RuntimeDefault"), None, privileged=True, bounding=DEFAULT, seccomp_default=True) == ""
    assert sp.select_profile(_sc("Localhost", "missing.json"), None, privileged=True, bounding=DEFAULT) == ""


def test_select_runtime_default_is_resolved_oci() -> None:
    oci = json.loads(sp.select_profile(_sc("RuntimeDefault"), None, privileged=False, bounding=DEFAULT))
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO" and oci["defaultErrnoRet"] == errno.EPERM
    assert all(set(r) <= {"names", "action", "errnoRet", "args"} for r in oci["syscalls"])
    assert "archMap" not in oci


# ------------------------------------------------------------------------------- RuntimeDefault's content
def test_runtime_default_for_the_default_set() -> None:
    oci = sp.resolve(sp.runtime_default(), DEFAULT, native=X86, kernel=(6, 1))
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = names_allowed(oci)
    for name in ("read", "write", "execve", "capset", "setuid", "prctl", "chdir", "arch_prctl", "ptrace", "chroot"):
        assert name in allowed, name
    for name in ("keyctl", "add_key", "request_key", "mount", "umount2", "unshare", "setns", "bpf", "reboot",
                 "kexec_load", "init_module", "open_by_handle_at", "acct", "userfaultfd", "perf_event_open", "socket",
                 "clone", "clone3", "personality", "mbind"):
        assert name not in allowed, name
    # clone without namespace flags; clone3 fails with ENOSYS so that libc falls back to clone
    (clone,) = rules_for(oci, "clone")
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
    (clone3,) = rules_for(oci, "clone3")
    assert (clone3["action"], clone3["errnoRet"]) == ("SCMP_ACT_ERRNO", errno.ENOSYS)
    # socket: every family but AF_ALG (38) and AF_VSOCK (40)
    socket = sorted((r["args"][0]["op"], r["args"][0]["value"]) for r in rules_for(oci, "socket"))
    assert socket == [("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40), ("SCMP_CMP_LT", 38)]
    assert sorted(r["args"][0]["value"] for r in rules_for(oci, "personality")) == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]


def test_runtime_default_follows_the_bounding_set() -> None:
    admin = sp.resolve(sp.runtime_default(), caps.by_number(DEFAULT + ("CAP_SYS_ADMIN", "CAP_SYS_PTRACE")),
                       native=X86, kernel=(6, 1))
    allowed = names_allowed(admin)
    assert {"mount", "unshare", "setns", "clone", "clone3", "kcmp", "process_vm_readv"} <= allowed
    assert not [r for r in rules_for(admin, "clone3") if r["action"] != "SCMP_ACT_ALLOW"]
    none = sp.resolve(sp.runtime_default(), (), native=X86, kernel=(6, 1))
    assert "chroot" not in names_allowed(none)  # CAP_SYS_CHROOT dropped: chroot refused too


def test_runtime_default_by_machine_and_kernel() -> None:
    arm = sp.resolve(sp.runtime_default(), DEFAULT, native=ARM, kernel=(6, 1))
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arch_prctl" not in names_allowed(arm) and "set_tls" in names_allowed(arm)
    old = sp.resolve(sp.runtime_default(), DEFAULT, native=X86, kernel=(4, 4))
    assert "ptrace" not in names_allowed(old)


# ------------------------------------------------------------------------------- resolve
def test_resolve_docker_format() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "comment": "old singular form"},
            {"names": ["a"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}},
            {"names": ["b"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_KILL"]}},
            {"names": ["c"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["arm64"]}},
            {"names": ["d"], "action": "SCMP_ACT_ERRNO", "excludes": {"arches": ["arm64"]}},
            {"names": ["e"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "5.10"}},
            {"names": ["f"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "5.10"}},
            {"names": ["g"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": [{"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]},
        ],
    }
    oci = sp.resolve(profile, ("CAP_SYS_ADMIN", "CAP_KILL"), native=X86, kernel=(5, 4))
    names = [r["names"] for r in oci["syscalls"]]
    assert names == [["mkdir"], ["d"], ["f"], ["g"]]
    assert oci["syscalls"][3] == {"names": ["g"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                                  "args": [{"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]}
    oci = sp.resolve(profile, ("CAP_SYS_ADMIN", "CAP_NET_ADMIN"), native=ARM, kernel=(6, 1))
    assert [r["names"] for r in oci["syscalls"]] == [["mkdir"], ["a"], ["b"], ["c"], ["e"], ["g"]]
    assert oci["architectures"] == ["SCMP_ARCH_X86_64"]  # architectures as written when there is no archMap


@pytest.mark.parametrize("release, version", [("6.1.0-18-amd64", (6, 1)), ("6.18.44-fc-v1045", (6, 18)),
                                              ("5.10", (5, 10)), ("4.19.0+", (4, 19)), ("garbage", (0, 0))])
def test_kernel_version(release: str, version: tuple[int, int]) -> None:
    assert sp.kernel_version(release) == version


# ------------------------------------------------------------------------------- check
GOOD = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}


@pytest.mark.parametrize("change, path", [
    ({"defaultAction": "SCMP_ACT_NOPE"}, "defaultAction"),
    ({"defaultAction": None}, "defaultAction"),
    ({"defaultErrnoRet": -1}, "defaultErrnoRet"),
    ({"architectures": ["SCMP_ARCH_Z80"]}, "architectures[0]"),
    ({"flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}, "flags[0]"),
    ({"syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}, "syscalls[0].names"),
    ({"syscalls": [{"names": ["x"], "action": "SCMP_ACT_NOTIFY"}]}, "syscalls[0].action"),
    ({"syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "errnoRet": "EPERM"}]}, "syscalls[0].errnoRet"),
    ({"syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].index"),
    ({"syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "EQ"}]}]},
     "syscalls[0].args[0].op"),
    ({"syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": -1}]}]},
     "syscalls[0].args[0].value"),
    ({"syscalls": "mkdir"}, "syscalls"),
])
def test_check_names_the_field(change: dict[str, Any], path: str) -> None:
    with pytest.raises(sp.ProfileError) as e:
        sp.check({**GOOD, **change})
    assert str(e.value).startswith(path + ": "), str(e.value)


def test_check_accepts_the_resolved_runtime_default() -> None:
    sp.check(sp.resolve(sp.runtime_default(), DEFAULT))
    sp.check(GOOD)


# ------------------------------------------------------------------------------- Localhost files
@pytest.fixture
def profile_root(tmp_path: Path) -> Path:
    (tmp_path / "ok.json").write_text(json.dumps(GOOD))
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "wrong.json").write_text(json.dumps({"defaultAction": "SCMP_ACT_WHAT"}))
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "escape.json").symlink_to("/etc/hostname")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.json").symlink_to("../ok.json")
    return tmp_path


def _localhost(root: Path, name: str) -> str:
    return sp.select_profile(_sc("Localhost", name), None, privileged=False, bounding=DEFAULT, profile_root=str(root))


def test_localhost_profile_is_loaded_beneath_the_root(profile_root: Path) -> None:
    assert json.loads(_localhost(profile_root, "ok.json"))["syscalls"] == GOOD["syscalls"]
    assert json.loads(_localhost(profile_root, "sub/inner.json"))["syscalls"] == GOOD["syscalls"]


@pytest.mark.parametrize("name, words", [
    ("missing.json", "No such file or directory"),
    ("bad.json", "invalid JSON"),
    ("list.json", "not a JSON object"),
    ("wrong.json", "defaultAction: unsupported value 'SCMP_ACT_WHAT'"),
    ("dir.json", "not a regular file"),
    ("escape.json", "escapes the profile directory"),
])
def test_unusable_localhost_profiles(profile_root: Path, name: str, words: str) -> None:
    with pytest.raises(ContainerConfigError) as e:
        _localhost(profile_root, name)
    assert f'"{profile_root}/{name}"' in e.value.message and words in e.value.message, e.value.message


def test_missing_profile_directory(tmp_path: Path) -> None:
    with pytest.raises(ContainerConfigError, match="profile directory"):
        _localhost(tmp_path / "nope", "ok.json")


@pytest.mark.parametrize("profile, path, words", [
    ({"type": "Localhost"}, "seccompProfile.localhostProfile", "Required value: must be set when seccomp type is Localhost"),
    ({"type": "Localhost", "localhostProfile": "/etc/p.json"}, "seccompProfile.localhostProfile", "must be a relative path"),
    ({"type": "Localhost", "localhostProfile": "a/../../p.json"}, "seccompProfile.localhostProfile", "must not contain '..'"),
    ({"type": "RuntimeDefault", "localhostProfile": "p.json"}, "seccompProfile.localhostProfile",
     "can only be set when seccomp type is Localhost"),
    ({"type": "Default"}, "seccompProfile.type", "Unsupported value"),
])
def test_seccomp_profile_field_errors(profile: dict[str, Any], path: str, words: str) -> None:
    for where, prefix in (("container", "spec.containers[0].securityContext."), ("pod", "spec.securityContext.")):
        spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
        if where == "pod":
            spec["securityContext"] = {"seccompProfile": profile}
        else:
            spec["containers"][0]["securityContext"] = {"seccompProfile": profile}
        with pytest.raises(SpecError) as e:
            pod_from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}, "t.yaml")
        errors = [str(x) for x in e.value.errors]
        assert any(x.startswith(prefix + path + ": ") and words in x for x in errors), errors


# ------------------------------------------------------------------------------- compile (libseccomp)
def pfc(oci: dict[str, Any]) -> str:
    flt = sp.compile_filter(oci)
    with tempfile.TemporaryFile() as f:
        flt.export_pfc(f)
        f.seek(0)
        return f.read().decode()


def syscall_blocks(text: str) -> dict[str, list[str]]:
    """PFC text -> syscall name -> the action lines of its block (native architecture's section first)."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.search(r'# filter for syscall "([^"]+)"', line)
        if m:
            current = m.group(1)
            out.setdefault(current, [])
        elif current and "action" in line:
            out[current].append(line.strip())
        elif line.strip().startswith("# default action"):
            current = None
    return out


def test_compile_runtime_default() -> None:
    oci = sp.resolve(sp.runtime_default(), DEFAULT)
    text = pfc(oci)
    blocks = syscall_blocks(text)
    assert "keyctl" not in blocks and "mount" not in blocks  # the default action (EPERM) covers them
    assert any("ERRNO(38)" in a for a in blocks["clone3"])  # ENOSYS
    assert any("ALLOW" in a for a in blocks["read"])
    assert re.search(r"# default action\n\s*action ERRNO\(1\);", text)
    import pyseccomp

    for arch in (pyseccomp.Arch.X86_64, pyseccomp.Arch.X86):  # one section per architecture of the profile
        assert f"if ($arch == {arch})" in text, arch
    # x32 shares x86_64's audit arch: its syscalls are told apart by bit 30 of the number
    assert f'# filter for syscall "clone3" ({0x40000000 | 435})' in text


def test_compile_skips_what_runc_skips() -> None:
    text = pfc({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "not_a_syscall_anywhere"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
        {"names": ["rmdir"], "action": "SCMP_ACT_ALLOW"},  # same as the default: not added (libseccomp refuses it)
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",  # two conditions on one argument: OR, two rules
         "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 19, "op": "SCMP_CMP_EQ"}]},
    ]})
    blocks = syscall_blocks(text)
    assert blocks["mkdir"] == [f"action ERRNO({errno.EROFS});"]
    assert "rmdir" not in blocks
    assert len([a for a in blocks["kill"] if "ERRNO(1)" in a]) == 2, blocks["kill"]


def test_pyseccomp_import_runs_no_ldconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sonames are handed over: no `ldconfig -p` subprocess (in a half-built container)."""
    import subprocess
    import sys

    monkeypatch.delitem(sys.modules, "pyseccomp", raising=False)
    calls: list[Any] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(OSError("no")))
    module = sp._pyseccomp()
    assert module.ALLOW == 0x7FFF0000 and calls == []
    assert os.path.basename(module._libseccomp._name) == "libseccomp.so.2"
