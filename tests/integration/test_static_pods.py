"""Static pods: `pyrunc daemon --pod-manifest-path DIR` keeps one pod per manifest file of DIR running.

Each test starts the daemon itself, as the systemd unit does (a subprocess with --root and the
directory), and stops it with SIGTERM by its pid. A pod appears, changes and vanishes with its file;
a bad file is reported next to a good one; dotfiles and other names are ignored; the daemon
restarted under running static pods adopts them (same container pids), and deletes the pod of a
file removed while it was down.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import PYRUNC, REPO, Node, _node, _read_json, alive, poll, pod_yaml, sleeper

NODE_NAME = "Lab-1"  # the kubelet lowercases it in the pod's name


def static_name(name: str) -> str:
    return f"{name}-{NODE_NAME.lower()}"


class StaticDaemon:
    def __init__(self, node: Node, manifests: Path) -> None:
        self.node = node
        self.manifests = manifests
        self.log = Path(node.root).parent / "static-daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*PYRUNC, "--root", self.node.root, "daemon", "--pod-manifest-path",
                                          str(self.manifests)], stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))
        self.node.daemon_pids.add(self.proc.pid)
        pid = self.proc.pid
        poll("the static daemon serving", lambda: Path(self.node.root, "daemon.sock").exists()
             and self.node.daemon_pid() == pid)

    def stop(self) -> None:
        """SIGTERM by pid, as systemd stops the unit; the pods stay."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, self.log.read_text()
        self.proc = None

    def log_text(self) -> str:
        return self.log.read_text()


@pytest.fixture
def static(tmp_path: Path) -> Iterator[StaticDaemon]:
    # No periodic rescan within a test: what happens, inotify made happen (the start-up scan aside).
    for node in _node(tmp_path, node_name=NODE_NAME, file_check_frequency=3600):
        manifests = tmp_path / "manifests"
        manifests.mkdir()
        daemon = StaticDaemon(node, manifests)
        try:
            yield daemon
        finally:
            # Files gone first: the daemon deletes their pods; then it stops, and the node checks for leaks.
            if daemon.proc is not None:
                for f in manifests.iterdir():
                    f.unlink()
                poll("static pods deleted", lambda: not list(Path(node.root, "pods").glob(f"*-{NODE_NAME.lower()}")),
                     timeout=60)
                daemon.stop()


def write(path: Path, text: str) -> None:
    """As an editor or `cp` would: the file is complete when the writer closes it."""
    path.write_text(text)


def manifest(name: str, arg: str = "first") -> str:
    return pod_yaml(name, sleeper("c", f"    args: [{arg}]\n"))


def pod_gone(node: Node, name: str) -> bool:
    return node.run("get", "pod", name, check=False).returncode != 0


def replaced(node: Node, name: str, old_uid: str) -> bool:
    """The pod exists under a new uid. Its pod.json can vanish between two reads while the
    supervisor swaps the old pod for the new one, so one read decides."""
    meta = _read_json(node.pod_dir(name) / "pod.json").get("metadata") or {}
    return bool(meta.get("uid")) and meta["uid"] != old_uid


def test_a_static_pod_appears_changes_and_vanishes_with_its_file(static: StaticDaemon) -> None:
    node = static.node
    static.start()
    name = static_name("web")
    write(static.manifests / "web.yaml", manifest("web"))
    pod = poll("static pod created", lambda: None if pod_gone(node, name) else node.wait_running(name))
    notes = pod["metadata"]["annotations"]
    assert notes["kubernetes.io/config.source"] == "file"
    assert notes["kubernetes.io/config.hash"] == notes["kubernetes.io/config.mirror"]
    uid, pid = pod["metadata"]["uid"], node.container_pid(name, "c")

    write(static.manifests / "web.yaml", manifest("web", "second"))  # the pod changes: a new pod
    poll("static pod re-created", lambda: replaced(node, name, uid))
    pod = node.wait_running(name)
    assert pod["spec"]["containers"][0]["args"] == ["second"]
    assert pod["metadata"]["annotations"]["kubernetes.io/config.hash"] != notes["kubernetes.io/config.hash"]
    assert node.container_pid(name, "c") != pid
    uid = pod["metadata"]["uid"]

    write(static.manifests / "web.yaml", manifest("web", "second") + "# only a comment\n")  # the same pod
    write(static.manifests / "zz.yaml", "kind: [")  # reported by the rescan that saw the comment too
    poll("rescanned", lambda: "zz.yaml" in static.log_text())
    assert node.uid(name) == uid and node.container_pid(name, "c")
    (static.manifests / "zz.yaml").unlink()

    (static.manifests / "web.yaml").unlink()
    poll("static pod deleted", lambda: pod_gone(node, name))
    assert not node.pod_dir(name).exists()


def test_a_bad_file_is_reported_and_the_others_run_dotfiles_and_other_names_ignored(static: StaticDaemon) -> None:
    node = static.node
    write(static.manifests / "bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: [{name: c}]}\n")
    write(static.manifests / ".hidden.yaml", manifest("hidden"))
    write(static.manifests / "notes.txt", manifest("txt"))
    write(static.manifests / "good.yml", manifest("good"))
    static.start()
    node.wait_running(static_name("good"))
    message = poll("event of the bad file", lambda: node.run("get", "events").stdout
                   if "bad.yaml" in node.run("get", "events").stdout else None)
    line = next(ln for ln in message.splitlines() if "bad.yaml" in ln)
    assert "Warning" in line and "FailedValidation" in line and f"node/{NODE_NAME}" in line
    assert "spec.containers[0].image" in line
    assert "bad.yaml" in static.log_text() and "spec.containers[0].image" in static.log_text()
    names = sorted(p.name for p in Path(node.root, "pods").iterdir())
    assert names == [f"default_{static_name('good')}"]

    # Fixed, the bad file's pod comes; the good one was never touched.
    good_uid = node.uid(static_name("good"))
    write(static.manifests / "bad.yaml", manifest("bad"))
    poll("the fixed file's pod", lambda: not pod_gone(node, static_name("bad")))
    node.wait_running(static_name("bad"))
    assert node.uid(static_name("good")) == good_uid


def test_the_daemon_restarted_adopts_its_static_pods_and_deletes_those_whose_file_went(
        static: StaticDaemon) -> None:
    node = static.node
    write(static.manifests / "keep.yaml", manifest("keep"))
    write(static.manifests / "drop.yaml", manifest("drop"))
    static.start()
    keep, drop = static_name("keep"), static_name("drop")
    poll("both created", lambda: not pod_gone(node, keep) and not pod_gone(node, drop))
    node.wait_running(keep)
    node.wait_running(drop)
    uid, pid = node.uid(keep), node.container_pid(keep, "c")
    drop_pid = node.container_pid(drop, "c")

    static.stop()  # SIGTERM: the pods keep running
    assert node.container_pid(keep, "c") == pid and node.container_pid(drop, "c") == drop_pid
    (static.manifests / "drop.yaml").unlink()  # removed while the daemon is down

    static.start()
    poll("pod of the removed file deleted", lambda: pod_gone(node, drop))
    node.wait_running(keep)
    assert node.uid(keep) == uid and node.container_pid(keep, "c") == pid  # adopted, not re-created


def test_deleting_a_static_pod_brings_it_back_while_its_file_is_there(static: StaticDaemon) -> None:
    node = static.node
    write(static.manifests / "web.json", '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, '
                                         '"spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "c", '
                                         '"image": "busybox", "command": ["sleep", "3600"]}]}}')
    static.start()
    name = static_name("web")
    poll("created", lambda: not pod_gone(node, name))
    uid = node.wait_running(name)["metadata"]["uid"]
    out = node.run("delete", "pod", name).stdout
    assert f'pod "{name}" deleted' in out
    poll("back from its file", lambda: replaced(node, name, uid))
    node.wait_running(name)


def test_a_static_daemon_takes_the_node_over_from_an_on_demand_one(static: StaticDaemon) -> None:
    node = static.node
    node.apply(pod_yaml("mine", sleeper("c")))  # starts an on-demand supervisor, which stays for its pod
    node.wait_running("mine")
    on_demand, pid = node.daemon_pid(), node.container_pid("mine", "c")
    write(static.manifests / "web.yaml", manifest("web"))
    static.start()  # asks the on-demand supervisor to hand over, then adopts its pod
    assert static.proc is not None and node.daemon_pid() == static.proc.pid != on_demand
    poll("the on-demand supervisor gone", lambda: not alive(on_demand))
    poll("static pod created", lambda: not pod_gone(node, static_name("web")))
    node.wait_running(static_name("web"))
    assert node.container_pid("mine", "c") == pid
    assert node.pod_json("mine")["metadata"].get("annotations", {}).get("kubernetes.io/config.source") is None
    node.delete("mine")  # through the static daemon, which stays
    assert node.daemon_pid() == static.proc.pid
