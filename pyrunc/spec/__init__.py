"""Pod manifests -> validated, defaulted, frozen model (pure: no I/O besides parsing text).

  quantity.py  resource quantities, exact
  names.py     single-value checks (DNS names, paths, ports)
  schema.py    the one generic decoder/encoder driven by the model's field metadata
  model.py     the v1 Pod dataclasses
  validate.py  cross-field checks
  load.py      load_manifests / pod_from_dict / pod_to_dict
"""

from __future__ import annotations

from pyrunc.spec.load import load_manifests, pod_from_dict, pod_to_dict
from pyrunc.spec.model import (
    Capabilities, Container, ContainerPort, DownwardAPIVolumeFile, DownwardAPIVolumeSource, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, ExecAction, GRPCAction, HostAlias, HostPathVolumeSource, HTTPGetAction, HTTPHeader,
    Lifecycle, LifecycleHandler, ObjectFieldSelector, ObjectMeta, Pod, PodDNSConfig, PodDNSConfigOption,
    PodSecurityContext, PodSpec, Probe, ResourceFieldSelector, ResourceRequirements, SecurityContext, SleepAction,
    Sysctl, TCPSocketAction, Volume, VolumeMount, is_sidecar,
)
from pyrunc.spec.quantity import Quantity, parse_quantity

__all__ = [
    "Capabilities", "Container", "ContainerPort", "DownwardAPIVolumeFile", "DownwardAPIVolumeSource",
    "EmptyDirVolumeSource", "EnvVar", "EnvVarSource", "ExecAction", "GRPCAction", "HostAlias",
    "HostPathVolumeSource", "HTTPGetAction", "HTTPHeader", "Lifecycle", "LifecycleHandler", "ObjectFieldSelector",
    "ObjectMeta", "Pod", "PodDNSConfig", "PodDNSConfigOption", "PodSecurityContext", "PodSpec", "Probe", "Quantity",
    "ResourceFieldSelector", "ResourceRequirements", "SecurityContext", "SleepAction", "Sysctl", "TCPSocketAction",
    "Volume", "VolumeMount", "is_sidecar", "load_manifests", "parse_quantity", "pod_from_dict", "pod_to_dict",
]
