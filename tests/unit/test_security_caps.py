"""The capability sets of a container process (containerd's CRI rules), as a table, and their checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pyrunc.errors import ContainerConfigError, SpecError
from pyrunc.security import caps, container_security, no_new_privileges
from pyrunc.spec import pod_from_dict
from pyrunc.spec.model import Capabilities, SecurityContext

DEFAULT = caps.by_number(caps.DEFAULT_CAPS)
EVERYTHING = caps.CAP_NAMES
NO_RESOURCE = tuple(c for c in caps.CAP_NAMES if c != "CAP_SYS_RESOURCE")  # root on hosts like this one


def test_default_set_is_a80425fb() -> None:
    assert caps.mask(caps.DEFAULT_CAPS) == 0xA80425FB
    assert caps.names_of(0xA80425FB) == DEFAULT
    assert len(caps.CAP_NAMES) == 41 and caps.CAP_NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40


@pytest.mark.parametrize("name, full", [
    ("NET_ADMIN", "CAP_NET_ADMIN"), ("CAP_NET_ADMIN", "CAP_NET_ADMIN"), ("net_admin", "CAP_NET_ADMIN"),
    ("cap_sys_admin", "CAP_SYS_ADMIN"), ("ALL", "ALL"), ("all", "ALL"), ("CHECKPOINT_RESTORE", "CAP_CHECKPOINT_RESTORE"),
    ("BOGUS", None), ("CAP_", None), ("", None), ("CAP_ALL", None),
])
def test_canonical_names(name: str, full: str | None) -> None:
    assert caps.canonical(name) == full


def _sc(add: tuple[str, ...] = (), drop: tuple[str, ...] = (), privileged: bool | None = None,
        with_caps: bool = True) -> SecurityContext:
    return SecurityContext(privileged=privileged, capabilities=Capabilities(add, drop) if with_caps else None)


def _plus(*names: str) -> tuple[str, ...]:
    return caps.by_number(DEFAULT + names)


def _minus(base: tuple[str, ...], *names: str) -> tuple[str, ...]:
    return tuple(c for c in base if c not in names)


CASES: list[tuple[str, Any, int, tuple[str, ...], tuple[str, ...]]] = [
    # (case, securityContext, uid, bounding, effective = permitted)
    ("no securityContext", None, 0, DEFAULT, DEFAULT),
    ("no capabilities", _sc(with_caps=False), 0, DEFAULT, DEFAULT),
    ("add NET_ADMIN", _sc(add=("NET_ADMIN",)), 0, _plus("CAP_NET_ADMIN"), _plus("CAP_NET_ADMIN")),
    ("add with prefix", _sc(add=("CAP_NET_ADMIN",)), 0, _plus("CAP_NET_ADMIN"), _plus("CAP_NET_ADMIN")),
    ("add twice", _sc(add=("NET_ADMIN", "net_admin")), 0, _plus("CAP_NET_ADMIN"), _plus("CAP_NET_ADMIN")),
    ("drop one", _sc(drop=("KILL",)), 0, _minus(DEFAULT, "CAP_KILL"), _minus(DEFAULT, "CAP_KILL")),
    ("drop wins over add", _sc(add=("NET_ADMIN",), drop=("CAP_NET_ADMIN",)), 0, DEFAULT, DEFAULT),
    ("drop ALL", _sc(drop=("ALL",)), 0, (), ()),
    ("drop ALL, add one back", _sc(add=("NET_BIND_SERVICE",), drop=("ALL",)), 0,
     ("CAP_NET_BIND_SERVICE",), ("CAP_NET_BIND_SERVICE",)),
    ("add ALL", _sc(add=("ALL",)), 0, EVERYTHING, EVERYTHING),
    ("add ALL, drop one", _sc(add=("ALL",), drop=("SYS_ADMIN",)), 0, _minus(EVERYTHING, "CAP_SYS_ADMIN"),
     _minus(EVERYTHING, "CAP_SYS_ADMIN")),
    ("add ALL and drop ALL", _sc(add=("ALL",), drop=("ALL",)), 0, (), ()),
    ("privileged", _sc(privileged=True), 0, EVERYTHING, EVERYTHING),
    ("privileged ignores drop", _sc(drop=("ALL",), privileged=True), 0, EVERYTHING, EVERYTHING),
    ("non-root: bounding kept", None, 1000, DEFAULT, ()),
    ("non-root with add", _sc(add=("NET_ADMIN",)), 1000, _plus("CAP_NET_ADMIN"), ()),
    ("non-root privileged", _sc(privileged=True), 1000, EVERYTHING, ()),
    ("privileged false", _sc(privileged=False, with_caps=False), 0, DEFAULT, DEFAULT),
]


@pytest.mark.parametrize("case, sc, uid, bounding, effective", CASES, ids=[c[0] for c in CASES])
def test_capability_sets(case: str, sc: Any, uid: int, bounding: tuple[str, ...], effective: tuple[str, ...]) -> None:
    sets = caps.capability_sets(sc, uid, EVERYTHING)
    assert sets.bounding == bounding
    assert sets.effective == sets.permitted == effective
    assert sets.inheritable == sets.ambient == ()  # CVE-2022-24769: never inheritable


def test_all_means_what_the_runtime_has() -> None:
    """containerd gives privileged containers and `add: [ALL]` its own current set, nothing more."""
    assert caps.capability_sets(_sc(privileged=True), 0, NO_RESOURCE).bounding == NO_RESOURCE
    assert caps.capability_sets(_sc(add=("ALL",)), 0, NO_RESOURCE).effective == NO_RESOURCE


def test_runtime_capabilities_is_this_process_bounding_set() -> None:
    with open("/proc/self/status", encoding="ascii") as f:
        line = next(x for x in f if x.startswith("CapBnd:"))
    assert caps.mask(caps.runtime_capabilities()) == int(line.split()[1], 16)


@pytest.mark.parametrize("ape, expected", [(None, False), (True, False), (False, True)])
def test_no_new_privs_rule(ape: bool | None, expected: bool) -> None:
    assert no_new_privileges(SecurityContext(allow_privilege_escalation=ape)) is expected
    assert no_new_privileges(None) is False


BASE: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u"},
                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def _pod(sc: dict[str, Any] | None = None, pod_sc: dict[str, Any] | None = None,
         annotations: dict[str, str] | None = None) -> Any:
    d = copy.deepcopy(BASE)
    if sc is not None:
        d["spec"]["containers"][0]["securityContext"] = sc
    if pod_sc is not None:
        d["spec"]["securityContext"] = pod_sc
    if annotations:
        d["metadata"]["annotations"] = annotations
    return pod_from_dict(d, "t.yaml")


def _errors(**kw: Any) -> list[str]:
    with pytest.raises(SpecError) as e:
        _pod(**kw)
    return [str(x) for x in e.value.errors]


def test_container_security_defaults() -> None:
    pod = _pod()
    sec = container_security(pod, pod.spec.containers[0], 0, all_caps=EVERYTHING)
    assert sec.capabilities.bounding == DEFAULT and sec.no_new_privileges is False
    assert sec.seccomp == "" and sec.privileged is False


def test_container_security_refuses_a_capability_the_runtime_lacks() -> None:
    pod = _pod({"capabilities": {"add": ["SYS_RESOURCE"]}})
    with pytest.raises(ContainerConfigError, match="CAP_SYS_RESOURCE is not available"):
        container_security(pod, pod.spec.containers[0], 0, all_caps=NO_RESOURCE)
    # privileged and add ALL take what there is
    pod = _pod({"privileged": True})
    assert container_security(pod, pod.spec.containers[0], 0, all_caps=NO_RESOURCE).capabilities.bounding == NO_RESOURCE


@pytest.mark.parametrize("sc, path, words", [
    ({"capabilities": {"add": ["NET_ADMIN", "BOGUS"]}}, "spec.containers[0].securityContext.capabilities.add[1]",
     'Unsupported value: "BOGUS"'),
    ({"capabilities": {"drop": ["CAP_NOPE"]}}, "spec.containers[0].securityContext.capabilities.drop[0]", '"CAP_NOPE"'),
    ({"privileged": True, "allowPrivilegeEscalation": False}, "spec.containers[0].securityContext",
     "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"),
    ({"capabilities": {"add": ["SYS_ADMIN"]}, "allowPrivilegeEscalation": False}, "spec.containers[0].securityContext",
     "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"),
    ({"capabilities": {"add": ["CAP_SYS_ADMIN"]}, "allowPrivilegeEscalation": False},
     "spec.containers[0].securityContext", "`capabilities.Add` CAP_SYS_ADMIN"),
    ({"appArmorProfile": {"type": "RuntimeDefault"}}, "spec.containers[0].securityContext.appArmorProfile.type",
     "pyrunc does not support AppArmor"),
    ({"appArmorProfile": {"type": "Localhost", "localhostProfile": "x"}},
     "spec.containers[0].securityContext.appArmorProfile.type", "does not support AppArmor"),
    ({"seLinuxOptions": {"level": "s0:c123,c456"}}, "spec.containers[0].securityContext.seLinuxOptions",
     "does not support SELinux"),
])
def test_container_security_context_errors(sc: dict[str, Any], path: str, words: str) -> None:
    errors = _errors(sc=sc)
    assert any(e.startswith(path + ": ") and words in e for e in errors), errors


def test_pod_level_and_annotation_errors() -> None:
    errors = _errors(pod_sc={"appArmorProfile": {"type": "RuntimeDefault"}, "seLinuxOptions": {"type": "spc_t"}})
    assert any(e.startswith("spec.securityContext.appArmorProfile.type: ") for e in errors), errors
    assert any(e.startswith("spec.securityContext.seLinuxOptions: ") for e in errors), errors
    key = "container.apparmor.security.beta.kubernetes.io/c"
    errors = _errors(annotations={key: "runtime/default"})
    assert errors == [f'metadata.annotations[{key}]: Unsupported value: "runtime/default": pyrunc does not support '
                      'AppArmor profiles (only "Unconfined" is accepted)']


def test_accepted_security_contexts() -> None:
    _pod({"appArmorProfile": {"type": "Unconfined"}, "seLinuxOptions": {},
          "capabilities": {"add": ["ALL", "cap_net_admin"], "drop": ["all"]}, "allowPrivilegeEscalation": False})
    _pod({"privileged": True, "allowPrivilegeEscalation": True})
    _pod(pod_sc={"appArmorProfile": {"type": "Unconfined"}},
         annotations={"container.apparmor.security.beta.kubernetes.io/c": "unconfined"})
