"""Typed errors. Every error the CLI prints is a PyruncError: one line, an optional hint, exit status 1."""

from __future__ import annotations


class PyruncError(Exception):
    """Base of every error meant for the user."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class FieldError(PyruncError):
    """One invalid field of a manifest, named by its path (``spec.containers[1].image``)."""

    def __init__(self, path: str, message: str, hint: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message, hint)
        self.path = path
        self.detail = message


class SpecError(PyruncError):
    """A manifest is invalid; carries every FieldError found (kubelet ValidatePod reports them all)."""

    def __init__(self, errors: list[FieldError], source: str = "") -> None:
        self.errors = list(errors)
        self.source = source
        # One line naming every invalid field, as kubectl joins an API server's field errors.
        shown = [e.message for e in self.errors[:5]] or ["invalid manifest"]
        more = f"; and {len(self.errors) - 5} more" if len(self.errors) > 5 else ""
        super().__init__("; ".join(shown) + more)


class NotFound(PyruncError):
    """A pod (or container) that does not exist; worded like the API server."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f'Error from server (NotFound): {kind} "{name}" not found')
        self.kind = kind
        self.name = name


class ImageError(PyruncError):
    """An image reference that cannot be resolved to a root filesystem."""


class ContainerConfigError(PyruncError):
    """A container's configuration cannot be honoured (runAsNonRoot against a root image, a missing
    seccomp profile, ...): the kubelet's CreateContainerConfigError, retried with back-off."""


class RuntimeFailure(PyruncError):
    """A kernel operation failed while creating or running a pod."""


class CgroupError(RuntimeFailure):
    """A cgroup operation failed."""

    def __init__(self, message: str, path: str = "", hint: str = "") -> None:
        super().__init__(message, hint)
        self.path = path


class NetworkError(RuntimeFailure):
    """A network set-up step failed (bridge, veth, address, port)."""


class DaemonError(PyruncError):
    """The supervising daemon could not be reached or refused a request."""
