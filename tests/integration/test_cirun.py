"""`run -f` (the CI foreground mode), `get pods -w` and `logs -f` across restarts, through the CLI.

Long-running CLI processes (a watch, a follow, a `run -f` to be signalled) are started as
subprocesses whose lines are read with a deadline, and stopped by their pid. The node's back-off
is capped at 1 s so that a crashing container restarts quickly; waits are polled, never timed.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import PYRUNC, REPO, WAIT, Node, _node, pod_yaml, poll, sleeper

pytestmark = [pytest.mark.root, pytest.mark.network]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    yield from _node(tmp_path, crashloop_max_backoff=1)


class Lines:
    """A `pyrunc` subprocess whose stdout lines are collected by a thread and awaited with a deadline."""

    def __init__(self, n: Node, *args: str) -> None:
        self.proc = subprocess.Popen([*PYRUNC, "--root", n.root, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=str(REPO))
        self.seen: list[str] = []
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.queue.put(line.rstrip("\n"))

    def wait_for(self, what: str, test: "type[str] | object" = None, after: int = 0) -> str:
        """The first line from index `after` on that contains `what`."""
        def found() -> str | None:
            while not self.queue.empty():
                self.seen.append(self.queue.get())
            return next((line for line in self.seen[after:] if what in line), None)

        return str(poll(f"{what!r} in the output of {self.proc.args[3:]} (so far {self.seen})", found))

    def finish(self, timeout: float = WAIT) -> tuple[int, str, str]:
        """Wait for the process to end; (exit status, rest of stdout, stderr)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"{self.proc.args[3:]} did not end")
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        while not self.queue.empty():
            self.seen.append(self.queue.get())
        return code, "\n".join(self.seen), err

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # by pid
        self.proc.wait()


@pytest.fixture
def procs() -> Iterator[list[Lines]]:
    started: list[Lines] = []
    yield started
    for p in started:
        p.stop()


def manifest(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


JOB = pod_yaml("job", """  - name: main
    image: busybox
    command: [sh, -c, 'echo hello; echo to-stderr >&2; echo bye; exit CODE']
""", """  restartPolicy: Never
  initContainers:
  - name: setup
    image: busybox
    command: [sh, -c, 'echo init-ran']
""")


# ------------------------------------------------------------------------------------------ run -f
def test_run_success_prefixed_logs_and_nothing_left(node: Node, tmp_path: Path) -> None:
    node.pods.add(("default", "job"))  # deleted by the teardown should the run leave it
    proc = node.run("run", "-f", manifest(tmp_path, "job", JOB.replace("CODE", "0")))
    lines = proc.stdout.splitlines()
    assert lines[0] == "[setup] init-ran"  # the init container's lines come before the app's
    # stdout and stderr are two pipes: their lines' relative order is not kept
    assert sorted(lines[1:4]) == ["[main] bye", "[main] hello", "[main] to-stderr"]
    assert lines[4].startswith("pod/job Succeeded in ")
    assert not node.leftovers()


def test_run_stores_the_files_configmaps_first_and_removes_the_ones_it_made(node: Node, tmp_path: Path) -> None:
    node.pods.add(("default", "reader"))
    node.run("create", "configmap", "kept", "--from-literal=who=before")
    text = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello-from-configmap
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kept
data:
  who: during
---
""" + pod_yaml("reader", """  - name: main
    image: busybox
    command: [sh, -c, 'echo "$GREETING $WHO"']
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef: {name: settings, key: greeting}
    - name: WHO
      valueFrom:
        configMapKeyRef: {name: kept, key: who}
""", "  restartPolicy: Never\n")
    proc = node.run("run", "-f", manifest(tmp_path, "reader", text))
    assert "[main] hello-from-configmap during" in proc.stdout.splitlines()
    names = node.run("get", "configmaps", "-o", "name").stdout.split()
    assert names == ["configmap/kept"]  # the run's own object went with its pod; the one already there stays
    assert not node.leftovers()


def test_run_exit_code_of_the_failing_container(node: Node, tmp_path: Path) -> None:
    node.pods.add(("default", "job"))
    proc = node.run("run", "-f", manifest(tmp_path, "job", JOB.replace("CODE", "3")), check=False)
    assert proc.returncode == 3, proc
    assert "[main] bye" in proc.stdout
    assert 'pod/job Failed: container "main" exited with code 3 in ' in proc.stdout
    assert not node.leftovers()


TWO = (pod_yaml("svc", """  - name: web
    image: busybox
    command: [sh, -c, 'echo up; trap "echo shutting-down; exit 0" TERM; sleep 3600 & wait']
""").replace("terminationGracePeriodSeconds: 0", "terminationGracePeriodSeconds: 20")
       + "---\n" + pod_yaml("crash", """  - name: c
    image: busybox
    command: [sh, -c, 'echo run-$(cat /proc/sys/kernel/random/uuid); sleep 0.3; exit 2']
"""))


def test_run_sigterm_deletes_gracefully(node: Node, tmp_path: Path, procs: list[Lines]) -> None:
    node.pods.update({("default", "svc"), ("default", "crash")})
    run = Lines(node, "run", "-f", manifest(tmp_path, "two", TWO))
    procs.append(run)
    run.wait_for("[svc/web] up")
    first = run.wait_for("[crash/c] run-")
    run.wait_for("[crash/c] run-", after=run.seen.index(first) + 1)  # followed across a restart
    node.remember_pids()
    run.proc.send_signal(signal.SIGTERM)
    code, out, err = run.finish()
    assert code == 143, (out, err)
    assert "SIGTERM received: deleting pod/svc, pod/crash" in err
    assert "[svc/web] shutting-down" in out  # graceful: the container got its TERM and its words are shown
    assert not node.leftovers()


def test_run_timeout(node: Node, tmp_path: Path) -> None:
    node.pods.add(("default", "svc"))
    text = pod_yaml("svc", sleeper("web"))
    proc = node.run("run", "-f", manifest(tmp_path, "svc", text), "--timeout", "2s", check=False)
    assert proc.returncode == 1, proc
    assert "error: timed out after 2s waiting for pod/svc (Running) to end; deleting pod/svc" in proc.stderr
    assert not node.leftovers()


def test_run_image_error_ends_with_one(node: Node, tmp_path: Path) -> None:
    node.pods.add(("default", "img"))
    text = pod_yaml("img", "  - name: x\n    image: no-such-image.invalid/x:1\n", "  restartPolicy: Never\n")
    proc = node.run("run", "-f", manifest(tmp_path, "img", text), check=False)
    assert proc.returncode == 1, proc
    assert 'pod/img Failed: container "x" ErrImagePull: ' in proc.stdout
    assert not node.leftovers()


def test_run_bad_manifest_creates_nothing(node: Node, tmp_path: Path) -> None:
    bad = JOB.replace("CODE", "0") + "---\n" + pod_yaml("second", "  - name: x\n    image: busybox\n    bogus: 1\n")
    proc = node.run("run", "-f", manifest(tmp_path, "bad", bad), check=False)
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert "bogus" in proc.stderr
    assert not Path(node.root, "pods").exists() or not any(Path(node.root, "pods").iterdir())


def test_run_refuses_a_pod_already_there_unless_replace(node: Node, tmp_path: Path) -> None:
    node.apply(pod_yaml("job", sleeper("main")))
    path = manifest(tmp_path, "job", JOB.replace("CODE", "0"))
    proc = node.run("run", "-f", path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: pods "job" already exists'), proc.stderr
    node.wait_running("job")  # untouched
    proc = node.run("run", "-f", path, "--replace")
    assert "[main] hello" in proc.stdout and "pod/job Succeeded" in proc.stdout
    assert not node.leftovers()


# ------------------------------------------------------------------------------------------ get -w
GATED = pod_yaml("w", sleeper("app"), """  initContainers:
  - name: gate
    image: busybox
    command: [sh, -c, 'until [ -e /gate/open ]; do sleep 0.1; done']
    volumeMounts: [{name: gate, mountPath: /gate}]
  volumes: [{name: gate, emptyDir: {}}]
""")


def test_get_watch_prints_a_line_per_change(node: Node, procs: list[Lines]) -> None:
    node.apply(pod_yaml("other", sleeper("s")))
    node.wait_running("other")
    watch = Lines(node, "get", "pods", "-w")
    procs.append(watch)
    watch.wait_for("NAME")
    watch.wait_for("other")
    node.apply(GATED)
    watch.wait_for("Init:0/1")
    (node.volume_dir("w", "gate") / "open").touch()
    running = watch.wait_for("Running", after=watch.seen.index(watch.wait_for("Init:0/1")))
    assert running.split()[:3] == ["w", "1/1", "Running"]
    before = len(watch.seen)
    node.delete("w")
    last = watch.wait_for("w ", after=before)  # the deleted pod's last line
    assert last.split()[0] == "w"
    assert all(line.split()[0] != "other" for line in watch.seen[2:]), watch.seen  # unchanged: never printed again
    watch.stop()
    assert watch.proc.returncode == -signal.SIGKILL


def test_get_watch_only_name_output(node: Node, procs: list[Lines]) -> None:
    watch = Lines(node, "get", "pods", "--watch-only", "-o", "name")
    procs.append(watch)
    node.apply(pod_yaml("n", sleeper("s")))
    assert watch.wait_for("pod/n") == "pod/n"
    node.delete("n")
    count = len(watch.seen)
    poll("the pod gone", lambda: not node.pod_dir("n").exists())
    watch.wait_for("pod/n", after=count)


def test_get_watch_request_timeout_ends_it(node: Node) -> None:
    proc = node.run("get", "pods", "-w", "--request-timeout", "1s")
    assert proc.returncode == 0 and proc.stdout == ""


# ------------------------------------------------------------------------------------------ logs -f
CRASHER = pod_yaml("crash", """  - name: c
    image: busybox
    command: [sh, -c, 'echo run-$(cat /proc/sys/kernel/random/uuid); sleep 1; exit 1']
  - name: quiet
    image: busybox
    command: [sh, -c, 'echo quiet-up; trap "exit 0" TERM; sleep 3600 & wait']
""")


def test_logs_follow_across_a_restart_until_deletion(node: Node, procs: list[Lines]) -> None:
    node.apply(CRASHER)
    node.wait_log("crash", "c", "run-")
    follow = Lines(node, "logs", "crash", "-c", "c", "-f")
    procs.append(follow)
    first = follow.wait_for("run-")
    second = follow.wait_for("run-", after=follow.seen.index(first) + 1)
    assert first != second  # two instances' lines in one stream
    assert node.state("crash", "c").get("restartCount", 0) >= 1
    node.delete("crash")
    code, _, err = follow.finish()
    assert code == 0, err


def test_logs_all_containers_with_prefix(node: Node) -> None:
    node.apply(CRASHER)
    node.wait_log("crash", "quiet", "quiet-up")
    node.wait_log("crash", "c", "run-")
    out = node.run("logs", "crash", "--all-containers", "--prefix").stdout.splitlines()
    assert "[pod/crash/quiet] quiet-up" in out
    assert any(line.startswith("[pod/crash/c] run-") for line in out), out
