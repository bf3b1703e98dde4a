"""Single-value checks (names, paths, ports). Each returns an error detail, or None when the value is fine.

Messages follow the API server's wording (k8s.io/apimachinery/pkg/util/validation).
Names matter beyond style here: container and volume names become file names under the pod directory,
so a name like "../x" or "a/b" must never get through.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only annotations: store/layout.py and the read verbs import this module, fractions unneeded
    from pyrunc.spec.quantity import Quantity

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SVC_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _invalid(value: object, why: str) -> str:
    shown = str(value) if isinstance(value, int) else f'"{value}"'  # a number, or a string / Quantity
    return f"Invalid value: {shown}: {why}"


def dns1123_label(value: str) -> str | None:
    if len(value) > 63:
        return _invalid(value, "must be no more than 63 characters")
    if not _LABEL.fullmatch(value):
        return _invalid(value, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                        "and must start and end with an alphanumeric character")
    return None


def dns1123_subdomain(value: str) -> str | None:
    if len(value) > 253:
        return _invalid(value, "must be no more than 253 characters")
    if not _SUBDOMAIN.fullmatch(value):
        return _invalid(value, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                        "'-' or '.', and must start and end with an alphanumeric character")
    return None


def iana_svc_name(value: str) -> str | None:
    if len(value) > 15:
        return _invalid(value, "must be no more than 15 characters")
    if not _SVC_NAME.fullmatch(value) or "--" in value:
        return _invalid(value, "must contain only lowercase alphanumeric characters or '-', "
                        "start and end with an alphanumeric character, and not contain '--'")
    if not re.search("[a-z]", value):
        return _invalid(value, "must contain at least one letter")
    return None


def qualified_name(value: str) -> str | None:
    """A label or annotation key: an optional DNS subdomain prefix, '/', then a name of at most 63 characters."""
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or dns1123_subdomain(prefix)):
        return _invalid(value, "prefix part must be a lowercase RFC 1123 subdomain")
    if len(name) > 63:
        return _invalid(value, "name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.fullmatch(name):
        return _invalid(value, "name part must consist of alphanumeric characters, '-', '_' or '.', "
                        "and must start and end with an alphanumeric character")
    return None


def label_value(value: str) -> str | None:
    if len(value) > 63:
        return _invalid(value, "must be no more than 63 characters")
    if value and not _QUALIFIED_NAME.fullmatch(value):
        return _invalid(value, "a valid label must be an empty string or consist of alphanumeric characters, "
                        "'-', '_' or '.', and must start and end with an alphanumeric character")
    return None


def resource_name(value: str) -> str | None:
    """cpu, memory, ephemeral-storage, hugepages-<size>, or a domain-prefixed extended resource."""
    if value in _STANDARD_RESOURCES or value.startswith("hugepages-"):
        return None
    if "/" in value and qualified_name(value) is None:
        return None
    return _invalid(value, "must be a standard resource type or fully qualified")


def absolute_path(value: str) -> str | None:
    if not value.startswith("/"):
        return _invalid(value, "must be an absolute path")
    return None


def relative_path(value: str) -> str | None:
    """A path inside a volume: not absolute and without '..' elements (it must not escape the volume)."""
    if value.startswith("/"):
        return _invalid(value, "must be a relative path")
    if ".." in value.split("/"):
        return _invalid(value, "must not contain '..'")
    return None


def env_var_name(value: str) -> str | None:
    """IsRelaxedEnvVarName (the API server's rule since RelaxedEnvironmentVariableValidation went GA in
    1.34): printable ASCII, space included, except '='."""
    if any(not " " <= ch <= "~" or ch == "=" for ch in value):
        return _invalid(value, "a valid environment variable name must consist only of printable ASCII "
                        "characters other than '='")
    return None


def port_number(value: int) -> str | None:
    if not 1 <= value <= 65535:
        return _invalid(value, "must be between 1 and 65535, inclusive")
    return None


def host_port_number(value: int) -> str | None:
    """0 means "no host port"."""
    return None if value == 0 else port_number(value)


def port_number_or_name(value: int | str) -> str | None:
    return iana_svc_name(value) if isinstance(value, str) else port_number(value)


def non_negative(value: int | Quantity) -> str | None:
    amount = value if isinstance(value, int) else value.amount
    if amount < 0:
        return _invalid(value, "must be greater than or equal to 0")
    return None


def at_least_one(value: int) -> str | None:
    if value < 1:
        return _invalid(value, "must be greater than or equal to 1")
    return None


def file_mode(value: int) -> str | None:
    if not 0 <= value <= 0o777:
        return _invalid(value, "must be a number between 0 and 0777 (octal), both inclusive")
    return None
