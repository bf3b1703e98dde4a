"""pyrunc-oci's remaining runtime-spec areas (hooks, user and time namespaces, the other linux fields), each
seen from the host, and compared with Debian's runc on the same bundle where behaviour must match. The
fixtures (bundles from the busybox rootfs, an --root per test, the leak check) are test_oci.py's."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import poll
from tests.integration.test_oci import SLEEP, Oci, needs_runc, oci, rootfs  # noqa: F401 - fixtures

pytestmark = [pytest.mark.root]

HOOK = """#!/bin/sh
state=$(cat)
echo "$1 $(readlink /proc/self/ns/mnt) $state" >> {log}
"""


def _hook_dir(oci: Oci, name: str) -> Path:
    """A directory bound into the container at the same path: a hook script in it resolves on both sides."""
    where = oci.tmp / name
    where.mkdir()
    os.chmod(where, 0o755)
    script = where / "hook.sh"
    script.write_text(HOOK.format(log=where / "log"))
    script.chmod(0o755)
    return where


def _with_hooks(where: Path, extra: dict[str, Any] | None = None) -> Any:
    script = str(where / "hook.sh")

    def edit(doc: dict[str, Any]) -> None:
        doc["hooks"] = {kind: [{"path": script, "args": ["hook.sh", kind]}] for kind in (
            "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")}
        doc["hooks"].update(extra or {})
        doc["mounts"].append({"destination": str(where), "type": "bind", "source": str(where), "options": ["rbind"]})
        doc["process"]["args"] = ["sh", "-c", f"echo process - >> {where}/log; exec sleep 3600"]
    return edit


def _log(where: Path) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(hook kind or "process", "host" or "container", the state it read) per line."""
    host = os.readlink("/proc/self/ns/mnt")
    out = []
    for line in (where / "log").read_text().splitlines() if (where / "log").exists() else []:
        kind, ns, *rest = line.split(" ", 2)
        state = json.loads(rest[0]) if rest and rest[0].startswith("{") else None
        out.append((kind, "-" if ns == "-" else ("host" if ns == host else "container"), state))
    return out


def _lifecycle(oci: Oci, where: Path, cid: str, runc: bool) -> list[tuple[str, str, dict[str, Any] | None]]:
    bundle = oci.bundle(SLEEP, _with_hooks(where))
    oci.create(cid, bundle, runc=runc)
    created = _log(where)
    oci("start", cid, runc=runc)
    poll("the poststart hook and the process", lambda: len(_log(where)) == 6)
    oci("kill", cid, "KILL", runc=runc)
    poll("the container to stop", lambda: oci.state(cid, runc=runc)["status"] == "stopped")
    oci("delete", cid, runc=runc)
    log = _log(where)
    assert len(log) == 7
    if not runc:  # runc 1.1 runs poststart at create (fixed in runc 1.2); runtime.md: after start
        assert log[:3] == created
    return log


def test_hooks_in_order_with_the_state_on_stdin(oci: Oci) -> None:
    log = _lifecycle(oci, _hook_dir(oci, "hooks"), "h1", False)
    kinds = [k for k, _, _ in log]
    # During create: prestart, createRuntime (runtime namespace), createContainer (the container's).
    assert kinds[:3] == ["prestart", "createRuntime", "createContainer"]
    # After start: startContainer before the program; poststart runs beside them (the runtime's, after start).
    assert kinds.index("startContainer") < kinds.index("process") and set(kinds[3:6]) == {
        "startContainer", "poststart", "process"}
    assert kinds[6] == "poststop"
    where_ran = {k: ns for k, ns, _ in log}
    assert where_ran == {"prestart": "host", "createRuntime": "host", "createContainer": "container",
                         "startContainer": "container", "poststart": "host", "poststop": "host", "process": "-"}
    states = {k: s for k, _, s in log if s is not None}
    for kind, status in (("prestart", "creating"), ("createRuntime", "creating"), ("createContainer", "creating"),
                         ("startContainer", "created"), ("poststart", "running"), ("poststop", "stopped")):
        assert states[kind]["status"] == status, kind
        assert states[kind]["id"] == "h1" and states[kind]["bundle"].startswith(str(oci.tmp / "bundle"))
    # The runtime's hooks get the init's host pid; those in the container its pid there (1).
    assert states["prestart"]["pid"] == states["createRuntime"]["pid"] == states["poststart"]["pid"] > 1
    assert states["createContainer"]["pid"] == states["startContainer"]["pid"] == 1
    assert "pid" not in states["poststop"]


@needs_runc
def test_hooks_state_keys_match_runc(oci: Oci) -> None:
    ours = _lifecycle(oci, _hook_dir(oci, "ours"), "h2", False)
    theirs = _lifecycle(oci, _hook_dir(oci, "theirs"), "h2", True)
    def shape(log: list[tuple[str, str, dict[str, Any] | None]]) -> list[tuple[str, str, list[str], str]]:
        # startContainer and poststart run at the same time (the container's and the runtime's): sorted.
        # runc 1.1 runs poststart during create, with the status "created" (docs/oci.md): left out.
        return sorted((k, ns, sorted(s or {}), str((s or {}).get("status"))) for k, ns, s in log
                      if k not in ("process", "poststart"))
    assert shape(ours) == shape(theirs)
    assert [k for k, _, _ in ours[:3]] == [k for k, _, _ in theirs[:3]]


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_a_failing_create_hook_fails_create_and_leaves_nothing(oci: Oci, kind: str) -> None:
    where = _hook_dir(oci, "fail")
    bundle = oci.bundle(SLEEP, _with_hooks(where, {kind: [{"path": "/bin/sh", "args": ["sh", "-c", "echo no; exit 3"]}]}))
    oci.ids.add("f1")
    out = oci("create", "--bundle", str(bundle), "f1", check=False)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert f"hooks.{kind}[0]" in out.stderr and "exit status 3" in out.stderr and "stdout: no" in out.stderr
    assert oci("state", "f1", check=False).returncode == 1


def test_a_hook_past_its_timeout_fails_create(oci: Oci) -> None:
    bundle = oci.bundle(SLEEP, lambda d: d.update(hooks={"createRuntime": [
        {"path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1}]}))
    oci.ids.add("t1")
    out = oci("create", "--bundle", str(bundle), "t1", check=False)
    assert out.returncode == 1 and "timeout after 1 seconds" in out.stderr
    assert oci("state", "t1", check=False).returncode == 1


def test_failing_poststart_and_poststop_hooks_are_warnings(oci: Oci) -> None:
    fail = [{"path": "/bin/false"}]
    where = _hook_dir(oci, "warn")
    bundle = oci.bundle(SLEEP, _with_hooks(where, {"poststart": fail, "poststop": fail}))
    oci.create("w1", bundle)
    out = oci("start", "w1")
    assert "warning: hooks.poststart[0]" in out.stderr
    assert oci.state("w1")["status"] == "running"
    poll("the program", lambda: any(k == "process" for k, _, _ in _log(where)))
    out = oci("delete", "--force", "w1")
    assert "warning: hooks.poststop[0]" in out.stderr
    assert oci("state", "w1", check=False).returncode == 1


def test_a_failing_start_container_hook_stops_the_container(oci: Oci) -> None:
    bundle = oci.bundle(SLEEP, lambda d: d.update(hooks={"startContainer": [{"path": "/bin/false"}]}))
    oci.create("s1", bundle)
    oci("start", "s1")
    poll("the container to stop", lambda: oci.state("s1")["status"] == "stopped")
    oci("delete", "s1")
