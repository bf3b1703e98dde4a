"""The config's hooks (runtime-spec config.md "POSIX-platform Hooks", runtime.md "Lifecycle").

Where and when each kind runs, as runtime.md says and runc does:
    prestart, createRuntime  the runtime's namespaces, during `create`, once the container's namespaces and
                             mounts exist, before pivot_root (the init waits for them: init.py asks with
                             {"hooks"} on the sync pipe, container.py answers "h" on the go pipe)
    createContainer          the container's namespaces (forked by the init), after createRuntime, before
                             pivot_root: the path resolves in the runtime's mount namespace
    startContainer           the container (forked by the init after `start` opened the exec FIFO), before
                             the user's program; the path resolves in the container
    poststart                the runtime's namespaces, in `start` once the program runs
    poststop                 the runtime's namespaces, in `delete` once the container is gone
Each gets the container's state JSON on stdin. A failing or timed-out prestart, createRuntime,
createContainer or startContainer hook fails the operation (create removes everything); a failing
poststart or poststop hook is a warning and the rest goes on (runtime.md).
"""

from __future__ import annotations

import sys

from pyrunc.oci import OCI_VERSION
from pyrunc.store import leanjson

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from pyrunc.records import NamedTuple

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


class Hook(NamedTuple):
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None  # seconds


class HookError(Exception):
    """A hook failed or timed out: `message` says which and how (runc's words)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def state_json(container_id: str, status: str, pid: int, bundle: str, annotations: dict[str, str]) -> bytes:
    """The spec's state as runc hands it to hooks: pid and annotations left out when there are none."""
    doc: dict[str, object] = {"ociVersion": OCI_VERSION, "id": container_id, "status": status}
    if pid:
        doc["pid"] = pid
    doc["bundle"] = bundle
    if annotations:
        doc["annotations"] = annotations
    return leanjson.dumps(doc).encode()


def run_one(kind: str, index: int, hook: Hook, state: bytes) -> None:
    """Run one hook with `state` on stdin and wait for it (at most its timeout). Its stdout and stderr are
    kept and shown when it fails, as runc does. As runc (Go's exec.Cmd): no args runs [path], no env
    passes the runtime's own environment."""
    import subprocess  # here: `state`, `kill` ... load this module and need no subprocess

    argv = list(hook.args) or [hook.path]
    try:
        done = subprocess.run(argv, executable=hook.path, input=state, env=dict(_env(hook.env)) if hook.env else None,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=hook.timeout, close_fds=True)
    except subprocess.TimeoutExpired:
        raise HookError(f"hooks.{kind}[{index}]: {hook.path}: timeout after {hook.timeout} seconds") from None
    except OSError as e:
        raise HookError(f"hooks.{kind}[{index}]: {hook.path}: {e.strerror or e}") from None
    if done.returncode != 0:
        how = f"exit status {done.returncode}" if done.returncode > 0 else f"signal: {-done.returncode}"
        out = done.stdout.decode(errors="replace").strip()
        err = done.stderr.decode(errors="replace").strip()
        raise HookError(f"hooks.{kind}[{index}]: {hook.path}: {how}, stdout: {out}, stderr: {err}")


def _env(items: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(k, v) for k, _, v in (e.partition("=") for e in items)]


def run(kind: str, hooks: tuple[Hook, ...], state: bytes) -> None:
    """Run the hooks of one kind in order; the first failure stops them (HookError)."""
    for i, hook in enumerate(hooks):
        run_one(kind, i, hook, state)


def run_warning(kind: str, hooks: tuple[Hook, ...], state: bytes) -> list[str]:
    """poststart, poststop: every hook runs; each failure is a warning on stderr (returned too)."""
    warnings = []
    for i, hook in enumerate(hooks):
        try:
            run_one(kind, i, hook, state)
        except HookError as e:
            warnings.append(e.message)
            print(f"warning: {e.message}", file=sys.stderr, flush=True)
    return warnings


def to_json(hooks: tuple[Hook, ...]) -> list[dict[str, object]]:
    """For state.json: the poststop hooks `delete` runs (the bundle's config may have changed by then)."""
    return [{"path": h.path, "args": list(h.args), "env": list(h.env), "timeout": h.timeout} for h in hooks]


def from_json(items: list[dict[str, Any]]) -> tuple[Hook, ...]:
    out = []
    for d in items:
        timeout = d.get("timeout")
        out.append(Hook(str(d["path"]), tuple(str(a) for a in d.get("args") or ()),
                        tuple(str(e) for e in d.get("env") or ()), int(timeout) if isinstance(timeout, int) else None))
    return tuple(out)
