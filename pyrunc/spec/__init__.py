"""Pod manifests -> validated, defaulted, frozen model (pure: no I/O besides parsing text).

  quantity.py  resource quantities, exact
  names.py     single-value checks (DNS names, paths, ports)
  schema.py    the one generic decoder/encoder driven by the model's field metadata
  model.py     the v1 Pod dataclasses
  validate.py  cross-field checks
  load.py      load_manifests / pod_from_dict / pod_to_dict
"""

from __future__ import annotations

from importlib import import_module

# typing.TYPE_CHECKING without importing typing (~5 ms of `pyrunc get`, cli/lean_get.py); mypy reads any
# name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Names resolve lazily (PEP 562), so that `pyrunc.spec.quantity` can be imported alone (describe
# uses its grammar) without building the whole model.
_WHERE = {
    "AppArmorProfile": "model", "Capabilities": "model", "SELinuxOptions": "model", "SeccompProfile": "model", "Container": "model", "ContainerPort": "model", "DownwardAPIVolumeFile": "model",
    "DownwardAPIVolumeSource": "model", "EmptyDirVolumeSource": "model", "EnvVar": "model",
    "EnvVarSource": "model", "ExecAction": "model", "GRPCAction": "model", "HTTPGetAction": "model",
    "HTTPHeader": "model", "HostAlias": "model", "HostPathVolumeSource": "model", "Lifecycle": "model",
    "LifecycleHandler": "model", "LocalObjectReference": "model", "ObjectFieldSelector": "model", "ObjectMeta": "model", "Pod": "model",
    "PodDNSConfig": "model", "PodDNSConfigOption": "model", "PodSecurityContext": "model", "PodSpec": "model",
    "Probe": "model", "Quantity": "quantity", "ResourceFieldSelector": "model",
    "ResourceRequirements": "model", "SecurityContext": "model", "SleepAction": "model", "Sysctl": "model",
    "TCPSocketAction": "model", "Volume": "model", "VolumeMount": "model", "is_sidecar": "model",
    "load_manifests": "load", "load_objects": "load", "parse_quantity": "quantity", "pod_from_dict": "load", "pod_to_dict": "load",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'pyrunc.spec' has no attribute {name!r}")
    return getattr(import_module(f"pyrunc.spec.{_WHERE[name]}"), name)


__all__ = [
    "AppArmorProfile", "SELinuxOptions", "SeccompProfile",
    "Capabilities", "Container", "ContainerPort", "DownwardAPIVolumeFile", "DownwardAPIVolumeSource",
    "EmptyDirVolumeSource", "EnvVar", "EnvVarSource", "ExecAction", "GRPCAction", "HostAlias",
    "HostPathVolumeSource", "HTTPGetAction", "HTTPHeader", "Lifecycle", "LifecycleHandler", "LocalObjectReference", "ObjectFieldSelector",
    "ObjectMeta", "Pod", "PodDNSConfig", "PodDNSConfigOption", "PodSecurityContext", "PodSpec", "Probe", "Quantity",
    "ResourceFieldSelector", "ResourceRequirements", "SecurityContext", "SleepAction", "Sysctl", "TCPSocketAction",
    "Volume", "VolumeMount", "is_sidecar", "load_manifests", "load_objects", "parse_quantity", "pod_from_dict", "pod_to_dict",
]
