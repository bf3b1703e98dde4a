"""The pure parts of `run -f` (outcome and exit status), of `get -w` (which changes print a line)
and of following logs (prefixes, instances after a restart)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from pyrunc.cli.follow import ContainerLog, LinePrefixer
from pyrunc.cli.get_cmd import WatchPrinter, signature, watch_events
from pyrunc.cli.run_cmd import Outcome, exit_status, outcome
from pyrunc.store.paths import PodPaths


def pod(phase: str, *statuses: dict[str, Any], init: tuple[dict[str, Any], ...] = (), **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "containerStatuses": list(statuses), **extra}
    if init:
        status["initContainerStatuses"] = list(init)
    return {"metadata": {"name": "job", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": s["name"]} for s in statuses]}, "status": status}


def terminated(name: str, code: int, reason: str = "") -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": code}
    if reason:
        term["reason"] = reason
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": term}}


def running(name: str) -> dict[str, Any]:
    return {"name": name, "ready": True, "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}


def waiting(name: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"name": name, "ready": False, "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}


# ----------------------------------------------------------------------------------- run -f
def test_succeeded_pod_is_zero() -> None:
    o = outcome(pod("Succeeded", terminated("a", 0, "Completed")))
    assert o == Outcome(True, True, "Succeeded", 0)
    assert exit_status([o]) == 0


def test_failed_pod_exits_with_the_failing_containers_code() -> None:
    o = outcome(pod("Failed", terminated("a", 0, "Completed"), terminated("b", 3, "Error")))
    assert o.ended and not o.succeeded
    assert o.text == 'Failed: container "b" exited with code 3'
    assert exit_status([o]) == 3


def test_init_container_failure_comes_first_and_reason_is_shown() -> None:
    o = outcome(pod("Failed", waiting("app", "PodInitializing"), init=(terminated("setup", 137, "OOMKilled"),)))
    assert o.text == 'Failed: container "setup" exited with code 137 (OOMKilled)'
    assert o.exit_code == 137


def test_failed_without_exit_code_is_one() -> None:
    o = outcome(pod("Failed", terminated("a", 0), reason="Evicted", message="The node was low on memory."))
    assert o.text == "Failed: Evicted: The node was low on memory."
    assert exit_status([o]) == 1


def test_image_error_ends_the_run_with_one() -> None:
    o = outcome(pod("Pending", waiting("a", "ErrImageNeverPull", 'image "nope" is not present')))
    assert o.ended and o.exit_code == 1
    assert o.text == 'Failed: container "a" ErrImageNeverPull: image "nope" is not present'


def test_running_and_pending_have_not_ended() -> None:
    assert not outcome(pod("Running", running("a"))).ended
    assert not outcome(pod("Pending", waiting("a", "ContainerCreating"))).ended
    assert not outcome(pod("Running", waiting("a", "CrashLoopBackOff"))).ended


def test_deleted_pod_is_a_failure() -> None:
    o = outcome(None)
    assert o.ended and not o.succeeded and exit_status([o]) == 1


def test_first_failing_pod_decides() -> None:
    ok = outcome(pod("Succeeded", terminated("a", 0)))
    two = outcome(pod("Failed", terminated("a", 2)))
    five = outcome(pod("Failed", terminated("a", 5)))
    assert exit_status([ok, two, five]) == 2
    assert exit_status([ok, ok]) == 0


# ----------------------------------------------------------------------------------- get -w
def test_watch_events() -> None:
    before = {"default/a": "x", "default/b": "y", "default/c": "z"}
    after = {"default/a": "x", "default/b": "Y", "default/d": "w"}
    assert watch_events(before, after) == [("MODIFIED", "default/b"), ("DELETED", "default/c"), ("ADDED", "default/d")]
    assert watch_events(after, after) == []


def test_row_signature_ignores_the_passing_of_time_but_not_a_change() -> None:
    a = pod("Running", running("a"))
    assert signature(a, "", False) == signature(a, "", False)
    b = pod("Running", {**running("a"), "restartCount": 1,
                        "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:00:05Z"}}})
    assert signature(a, "", False) != signature(b, "", False)
    assert signature(a, "", False) != signature(pod("Pending", waiting("a", "ContainerCreating")), "", False)
    assert signature(a, "json", False) != signature(b, "json", False)


def test_watch_printer_table_header_once_and_yaml_documents() -> None:
    now = dt.datetime(2026, 1, 1, 0, 1, tzinfo=dt.timezone.utc)
    lines: list[str] = []
    table = WatchPrinter("", False, False, lines.append)
    table(pod("Pending", waiting("a", "ContainerCreating")), now)
    table(pod("Running", running("a")), now)
    assert lines[0].splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[0].splitlines()[1].split() == ["job", "0/1", "ContainerCreating", "0", "60s"]
    assert lines[1].split() == ["job", "1/1", "Running", "0", "60s"]
    docs: list[str] = []
    yaml_printer = WatchPrinter("yaml", False, False, docs.append)
    yaml_printer(pod("Running", running("a")), now)
    yaml_printer(pod("Running", running("a")), now)
    assert not docs[0].startswith("---") and docs[1].startswith("---\n")


# ----------------------------------------------------------------------------------- logs
def test_line_prefixer_prefixes_every_line_once() -> None:
    p = LinePrefixer(b"[web] ")
    assert p(b"a\n\nb") == b"[web] a\n[web] \n[web] b"
    assert p(b"c\nd\n") == b"c\n[web] d\n"  # `b` and `c` were one line written in two pieces
    assert p(b"") == b""
    assert LinePrefixer(b"")(b"x\n") == b"x\n"


def record(text: str) -> bytes:
    return f"2026-01-01T00:00:00.000000000Z stdout F {text}\n".encode()


def test_container_log_moves_to_the_next_instance_after_a_restart(tmp_path: Path) -> None:
    paths = PodPaths(str(tmp_path / "root"), str(tmp_path / "data"), str(tmp_path / "logs"), "default", "p", "u1")
    d = Path(paths.container_log_dir("c"))
    d.mkdir(parents=True)
    (d / "0.log").write_bytes(record("first") + b"2026-01-01T00:00:00.000000000Z stdout F to")
    log = ContainerLog(paths, "c", 0)
    assert log.read(0) == record("first")  # the torn record waits for its end
    with open(d / "0.log", "ab") as f:
        f.write(b"rn\n")
    (d / "1.log").write_bytes(record("second"))
    assert log.read(0) == b"2026-01-01T00:00:00.000000000Z stdout F torn\n"  # count not moved: stays
    assert log.read(1) == record("second")
    assert log.instance == 1
    # instance 2 came and went (its file collected); 3 is there
    (d / "3.log").write_bytes(record("fourth"))
    assert log.read(3) == record("fourth")
    assert log.instance == 3
    log.close()


def test_container_log_waits_for_a_container_that_has_not_started(tmp_path: Path) -> None:
    paths = PodPaths(str(tmp_path / "root"), str(tmp_path / "data"), str(tmp_path / "logs"), "default", "p", "u1")
    log = ContainerLog(paths, "init", 0)
    assert log.read(0) == b""
    d = Path(paths.container_log_dir("init"))
    d.mkdir(parents=True)
    (d / "0.log").write_bytes(record("hello"))
    assert log.read(0) == record("hello")
    log.close()


def test_watch_events_output() -> None:
    now = dt.datetime(2026, 1, 1, 0, 1, tzinfo=dt.timezone.utc)
    lines: list[str] = []
    table = WatchPrinter("", False, False, lines.append, events=True)
    table(pod("Pending", waiting("a", "ContainerCreating")), now, "ADDED")
    table(pod("Running", running("a")), now, "MODIFIED")
    assert [line.split() for line in lines[0].splitlines()] == [
        ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["ADDED", "job", "0/1", "ContainerCreating", "0", "60s"]]
    assert lines[1].split() == ["MODIFIED", "job", "1/1", "Running", "0", "60s"]
    objs: list[str] = []
    WatchPrinter("json", False, False, objs.append, events=True)(pod("Running", running("a")), now, "DELETED")
    assert json.loads(objs[0])["type"] == "DELETED" and json.loads(objs[0])["object"]["metadata"]["name"] == "job"


def test_logs_follow_ends_only_when_the_container_will_not_run_again() -> None:
    from pyrunc.cli.logs_cmd import ended

    def with_policy(p: dict[str, Any], policy: str) -> dict[str, Any]:
        return {**p, "spec": {**p["spec"], "restartPolicy": policy}}

    failed = pod("Running", terminated("a", 1))
    done = pod("Running", terminated("a", 0))
    assert not ended(with_policy(failed, "Always"), "a")  # terminated for a moment: restarts
    assert not ended(with_policy(done, "Always"), "a")
    assert not ended(with_policy(failed, "OnFailure"), "a")
    assert ended(with_policy(done, "OnFailure"), "a")
    assert ended(with_policy(failed, "Never"), "a")
    assert not ended(with_policy(pod("Running", running("a")), "Never"), "a")
    init = {**pod("Pending", waiting("app", "PodInitializing"), init=(terminated("setup", 1),))}
    init["spec"]["initContainers"] = [{"name": "setup"}]
    assert not ended(with_policy(init, "Always"), "setup")
    assert ended(with_policy(init, "Never"), "setup")
