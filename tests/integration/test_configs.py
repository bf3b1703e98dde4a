"""Issue 11 point 1 (the objects): ConfigMaps and Secrets through the real CLI on a real node. Applied with
pods from one file, listed, described and deleted as kubectl does; `pyrunc create`; the store's files private
to root; a bad object refused with nothing created; imagePullSecrets used by a pod's pull from a registry
with basic auth.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import imagekit as k
from tests.integration.helpers import Node, _node, node, poll, pod_yaml, sleeper  # noqa: F401
from tests.integration.supervision_helpers import describe_events, status_of, wait_status
from tests.registry_fixture import missing_tools, push_layout, start_registry

pytestmark = [pytest.mark.root]

OBJECTS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  labels: {app: web}
data:
  mode: production
  app.conf: |
    listen 8080
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  password: hunter2-not-shown
"""


def _objects_dir(node: Node) -> Path:
    return Path(node.root, "objects")


def test_apply_a_file_with_objects_and_a_pod_then_get_describe_and_delete_it(node: Node, tmp_path: Path) -> None:
    manifest = tmp_path / "app.yaml"
    # The pod first in the file: the objects are still stored before it is started.
    manifest.write_text(pod_yaml("web", sleeper("c")) + "---\n" + OBJECTS)
    node.pods.add(("default", "web"))
    out = node.run("apply", "-f", str(manifest)).stdout
    assert out.splitlines() == ["configmap/app-config created", "secret/app-secret created", "pod/web created"]
    node.remember_pids()
    assert node.run("apply", "-f", str(manifest)).stdout.splitlines() == [
        "configmap/app-config unchanged", "secret/app-secret unchanged", "pod/web unchanged"]

    table = node.run("get", "configmaps").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"] and table[1].split()[:2] == ["app-config", "2"]
    table = node.run("get", "secrets", "-A").stdout.splitlines()
    assert table[0].split() == ["NAMESPACE", "NAME", "TYPE", "DATA", "AGE"]
    assert table[1].split()[:4] == ["default", "app-secret", "Opaque", "1"]
    assert node.run("get", "cm", "-o", "name").stdout == "configmap/app-config\n"

    as_yaml = yaml.safe_load(node.run("get", "secret", "app-secret", "-o", "yaml").stdout)
    assert base64.b64decode(as_yaml["data"]["password"]) == b"hunter2-not-shown"  # kubectl's -o yaml: base64
    assert as_yaml["metadata"]["uid"] and as_yaml["metadata"]["creationTimestamp"].endswith("Z")
    assert "stringData" not in as_yaml

    described = node.run("describe", "configmap", "app-config").stdout
    assert "Labels:       app=web\n" in described and "mode:\n----\nproduction\n" in described
    described = node.run("describe", "secret", "app-secret").stdout
    assert "Type:  Opaque" in described and "password:  17 bytes" in described
    assert "hunter2" not in described and "aHVudGVy" not in described

    # Private to root: a 0700 directory tree of 0600 files.
    files = list(_objects_dir(node).rglob("*.json"))
    assert len(files) == 2
    for path in [_objects_dir(node), *files, *{f.parent for f in files}, *{f.parent.parent for f in files}]:
        assert path.stat().st_mode & 0o077 == 0, path

    gone = node.run("get", "secret", "nope", check=False)
    assert gone.returncode == 1 and gone.stderr == 'Error from server (NotFound): secrets "nope" not found\n'

    out = node.run("delete", "-f", str(manifest)).stdout.splitlines()
    assert out == ['pod "web" deleted', 'configmap "app-config" deleted', 'secret "app-secret" deleted']
    assert list(_objects_dir(node).rglob("*.json")) == []
    assert node.run("get", "configmaps").stderr == "No resources found in default namespace.\n"


def test_a_bad_object_is_one_line_and_nothing_is_created(node: Node) -> None:
    bad = OBJECTS.replace("mode: production", "mode/x: production") + "---\n" + pod_yaml("web", sleeper("c"))
    proc = node.run("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith('error: configmap "app-config": data') and "a valid config key" in proc.stderr
    assert list(_objects_dir(node).rglob("*.json")) == [] if _objects_dir(node).exists() else True
    assert not Path(node.root, "pods").exists() or not any(Path(node.root, "pods").iterdir())
    other = node.run("apply", "-f", "-", input="apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
                     check=False)
    assert other.stderr == ('error: kind: Unsupported value: "Deployment": pyrunc runs Pods, ConfigMaps and Secrets '
                            "only (or a List of them)\n")


def test_create_configmap_and_secret_from_literals_and_files(node: Node, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "a.properties").write_text("a=1\n")
    (conf / "b.bin").write_bytes(b"\xff\x00")
    (conf / "skipped").mkdir()
    out = node.run("create", "configmap", "settings", "--from-literal=level=debug", f"--from-file={conf}",
                   f"--from-file=renamed={conf / 'a.properties'}").stdout
    assert out == "configmap/settings created\n"
    stored = json.loads(node.run("get", "cm", "settings", "-o", "json").stdout)
    assert stored["data"] == {"level": "debug", "a.properties": "a=1\n", "renamed": "a=1\n"}
    assert stored["binaryData"] == {"b.bin": base64.b64encode(b"\xff\x00").decode()}
    again = node.run("create", "configmap", "settings", "--from-literal=x=y", check=False)
    assert again.stderr == 'error: failed to create configmap: configmaps "settings" already exists\n'
    dup = node.run("create", "cm", "dup", "--from-literal=k=1", "--from-literal=k=2", check=False)
    assert dup.stderr == ('error: cannot add key "k", another key by that name already exists in Data for '
                          'ConfigMap "dup"\n')

    out = node.run("create", "secret", "generic", "db", "--from-literal=user=admin",
                   "--from-literal=password=t0p-s3cret", "-n", "team").stdout
    assert out == "secret/db created\n"
    described = node.run("describe", "secret", "db", "-n", "team").stdout
    assert "password:  10 bytes" in described and "t0p-s3cret" not in described
    dry = yaml.safe_load(node.run("create", "secret", "generic", "dry", "--from-literal=a=b", "--dry-run=client",
                                  "-o", "yaml").stdout)
    assert dry == {"apiVersion": "v1", "kind": "Secret", "data": {"a": "Yg=="},
                   "metadata": {"name": "dry", "creationTimestamp": None}}
    assert node.run("get", "secret", "dry", check=False).returncode == 1  # a dry run stores nothing

    assert node.run("delete", "configmap", "settings", "missing", check=False).stderr == (
        'Error from server (NotFound): configmaps "missing" not found\n')
    assert node.run("delete", "secrets", "--all", "-n", "team").stdout == 'secret "db" deleted\n'


def _as_nobody(fn: Any) -> tuple[int, str]:
    """Run fn() -> exit status as uid/gid 65534 in a forked child (the CLI's main in-process: the test's
    interpreter may not be executable by that user); its status and what it wrote on stderr."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            sys.stderr = os.fdopen(write, "w")
            os.setgid(65534)
            os.setuid(65534)
            status = fn()
            sys.stderr.flush()
            os._exit(status)
        except BaseException:  # noqa: BLE001
            os._exit(99)
    os.close(write)
    with os.fdopen(read) as f:
        err = f.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err


def test_reading_objects_needs_root() -> None:
    import pyrunc.cli.describe_cmd
    import pyrunc.cli.get_cmd
    import pyrunc.config
    import pyrunc.printers.describe  # noqa: F401 - imported before the fork: root's interpreter files are root's
    from pyrunc.cli.main import main

    # A root an unprivileged user may traverse and whose configuration they may read (as /run/pyrunc is):
    # the objects' own directory is what keeps them out.
    base = Path(tempfile.mkdtemp(prefix="pyrunc-objects-"))
    gen = _node(base)
    node = next(gen)
    try:
        for path in (base, Path(node.root)):
            path.chmod(0o711)
        Path(node.root, "config.json").chmod(0o644)
        node.run("create", "secret", "generic", "s", "--from-literal=k=v")
        for verb in ("get", "describe"):
            status, err = _as_nobody(lambda: main(["--root", node.root, verb, "secrets"]))
            assert status == 1 and err.startswith(f"error: pyrunc {verb} secrets needs root"), err
        secret_file = next(_objects_dir(node).rglob("s.json"))

        def read_directly() -> int:
            try:
                secret_file.read_bytes()
                return 0
            except PermissionError:
                return 13

        assert _as_nobody(read_directly)[0] == 13
        node.run("delete", "secret", "s")
    finally:
        with pytest.raises(StopIteration):
            next(gen)
        shutil.rmtree(base)


# ------------------------------------------------------------------------------- imagePullSecrets
def test_image_pull_secrets_authenticate_the_pods_pull(tmp_path: Path) -> None:
    if why := missing_tools():
        pytest.skip(why)
    reg = start_registry(tmp_path / "reg", auth="basic", users={"alice": "pull-s3cret"})
    try:
        layout = k.write_layout(tmp_path / "layout", [k.ImageSpec("p:v1", [k.busybox_layer(tmp_path)],
                                                                   cmd=["sleep", "3600"], architecture=k.host_arch())])
        push_layout(reg, layout, "p:v1", "private/p:v1", creds=("alice", "pull-s3cret"))
        # The node has no credentials of its own: only the pod's pull secret can open the registry.
        gen = _node(tmp_path / "node", images_dir=str(tmp_path / "store"),
                    registry_auth_files=[str(tmp_path / "none.json")], crashloop_max_backoff=2)
        n = next(gen)
        try:
            n.run("create", "secret", "docker-registry", "regcred", f"--docker-server={reg.host}",
                  "--docker-username=alice", "--docker-password=pull-s3cret")
            image = f"{reg.host}/private/p:v1"
            container = f"  - name: c\n    image: {image}\n"
            # A pod naming a missing secret (and none that works): a warning, the pull goes on and is refused.
            n.apply(pod_yaml("nosecret", container, "  imagePullSecrets: [{name: absent}]\n"))
            wait_status(n, "nosecret", "ErrImagePull",
                        lambda s: s["state"].get("waiting", {}).get("reason") in ("ErrImagePull", "ImagePullBackOff"))
            events = describe_events(n, "nosecret")
            assert ("Warning", "FailedToRetrieveImagePullSecret",
                    "Unable to retrieve some image pull secrets (absent); attempting to pull the image may not "
                    "succeed.") in events
            n.delete("nosecret")

            n.apply(pod_yaml("private", container, "  imagePullSecrets: [{name: absent}, {name: regcred}]\n"))
            n.wait_running("private")
            assert any(e[1] == "Pulled" for e in describe_events(n, "private"))
            # The credentials reached the pull child through a file of its own, gone with the pull.
            pulls = Path(n.root, "pulls")
            assert not list(pulls.glob("*.auth")) if pulls.exists() else True
            log = Path(n.root, "daemon.log").read_text()
            assert "pull-s3cret" not in log and base64.b64encode(b"alice:pull-s3cret").decode() not in log
            for path in Path(n.root).rglob("*"):
                if path.is_file() and "objects" not in path.parts and path.suffix in (".json", ".log", ".auth"):
                    assert b"pull-s3cret" not in path.read_bytes(), path
            assert status_of(n.pod_json("private"), "c")["ready"]
        finally:
            with pytest.raises(StopIteration):
                next(gen)
    finally:
        reg.stop()


def test_delete_of_an_object_while_the_supervisor_runs_is_told_to_it(node: Node) -> None:
    """notify_objects_changed: with a supervisor running (a pod), storing and deleting objects works and the
    supervisor stays up (today's supervisor answers "unknown request", which the CLI ignores)."""
    node.apply(pod_yaml("keeper", sleeper("c")))
    node.wait_running("keeper")
    pid = node.daemon_pid()
    assert node.run("apply", "-f", "-", input=OBJECTS).stdout.splitlines() == [
        "configmap/app-config created", "secret/app-secret created"]
    assert node.run("delete", "cm", "app-config").stdout == 'configmap "app-config" deleted\n'
    node.run("delete", "secret", "app-secret")
    assert poll("the same supervisor", lambda: node.daemon_pid() == pid)
    node.delete("keeper")
