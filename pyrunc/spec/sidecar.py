"""The native-sidecar rule, in one place: an init container with `restartPolicy: Always` (kubelet
pkg/kubelet/kuberuntime, `podutil.IsRestartableInitContainer`).

It reads the v1 dict (a stored manifest, what the read verbs and printers have) or the typed
Container (spec.model.is_sidecar calls `restartable`). Light on purpose: status.py and the printers
use it without importing the model.
"""

from __future__ import annotations

# typing.TYPE_CHECKING without importing typing (~5 ms of `pyrunc get`, cli/lean_get.py); mypy reads any
# name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

SIDECAR_RESTART_POLICY = "Always"  # the only value a container-level restartPolicy may take


def restartable(restart_policy: str | None) -> bool:
    """Whether an init container with this container-level restartPolicy is a sidecar."""
    return restart_policy == SIDECAR_RESTART_POLICY


def is_sidecar_dict(container: Mapping[str, Any]) -> bool:
    """`restartable` on a v1 container dict (an init container of a manifest)."""
    return restartable(container.get("restartPolicy"))


def sidecar_names(spec: Mapping[str, Any]) -> set[str]:
    """The names of a v1 pod spec's native sidecars."""
    return {str(c.get("name", "")) for c in spec.get("initContainers") or [] if is_sidecar_dict(c)}
