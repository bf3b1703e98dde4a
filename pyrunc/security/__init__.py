"""Process security of every container process: capabilities, no_new_privs, seccomp.

  caps.py        capability names/numbers, containerd's default set, the CRI add/drop rules (pure)
  seccomp.py     profile choice (RuntimeDefault / Localhost / Unconfined), resolution, libseccomp compile
  runtime_default.json   containerd's default seccomp profile, as data
  process.py     applying it all in the container's init and in exec'd processes, in runc's order

`container_security` is what runtime/config.py `container_config` calls; the result is carried in
the ContainerConfig (config.json) so that `pyrunc exec`, hooks and probes get the same settings.
"""

from __future__ import annotations


from pyrunc.security.caps import CapabilitySets

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Any, Iterable, NamedTuple
else:
    from pyrunc.records import NamedTuple


class ContainerSecurity(NamedTuple):
    capabilities: CapabilitySets
    no_new_privileges: bool
    seccomp: str  # resolved OCI linux.seccomp JSON, "" = unconfined
    privileged: bool


def no_new_privileges(sc: Any) -> bool:
    """The kubelet's rule: set exactly when allowPrivilegeEscalation is false."""
    return sc is not None and sc.allow_privilege_escalation is False


def container_security(pod: Any, container: Any, uid: int, *, seccomp_profile_root: str = "",
                       seccomp_default: bool = False, all_caps: Iterable[str] | None = None) -> ContainerSecurity:
    """Capabilities, no_new_privs and seccomp for `container` of `pod` running as `uid`.

    Raises ContainerConfigError for what the node cannot honour: a capability the runtime itself does
    not hold, a missing or invalid Localhost seccomp profile.
    """
    from pyrunc.errors import ContainerConfigError
    from pyrunc.security import caps, seccomp

    sc = container.security_context
    psc = pod.spec.security_context
    privileged = bool(sc is not None and sc.privileged)
    available = tuple(caps.runtime_capabilities() if all_caps is None else all_caps)
    sets = caps.capability_sets(sc, uid, available)
    if not privileged and sc is not None and sc.capabilities is not None:
        for name in sc.capabilities.add:
            full = caps.canonical(name)
            if full not in (None, "ALL") and full in sets.bounding and full not in available:
                raise ContainerConfigError(f"capability {full} is not available to the runtime on this node "
                                           "(not in its own bounding set)")
    profile = seccomp.select_profile(sc, psc, privileged=privileged, bounding=sets.bounding,
                                     profile_root=seccomp_profile_root or seccomp.DEFAULT_PROFILE_ROOT,
                                     seccomp_default=seccomp_default)
    return ContainerSecurity(sets, no_new_privileges(sc), profile, privileged)
