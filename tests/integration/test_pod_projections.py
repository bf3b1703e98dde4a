"""ConfigMaps and Secrets used by real pods (env, envFrom, configMap/secret/projected volumes), the
atomic writer's `..data` layout, updates of mounted files, downwardAPI label files updated in place.

The objects are put in the node's store directly and the supervisor told with the `objects-changed`
op, as the CLI does after it stores one.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from pyrunc.config import load_config
from pyrunc.spec.objects import object_from_dict
from pyrunc.store.objects import ObjectStore
from pyrunc.supervisor.client import request
from tests.integration.helpers import Node, node, pod_yaml, poll, sleeper  # noqa: F401
from tests.integration.supervision_helpers import describe_events

pytestmark = [pytest.mark.root, pytest.mark.network]

SECRET_VALUE = "s3cr3t-Value-42"


def put(n: Node, doc: dict[str, Any], notify: bool = True) -> None:
    obj, errors = object_from_dict({"apiVersion": "v1", **doc})
    assert obj is not None and not errors, errors
    ObjectStore(n.root).put(obj, str(uuid.uuid4()), "2026-01-01T00:00:00Z")
    if notify:
        assert request(load_config(n.root), {"op": "objects-changed"})["ok"] is True


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"kind": "Secret", "metadata": {"name": name}, "stringData": data}


def env_of(n: Node, pod: str, container: str) -> dict[str, str]:
    out = n.exec(pod, container, "env").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def waiting(n: Node, pod: str) -> dict[str, Any]:
    return n.pod_json(pod)["status"]["containerStatuses"][0]["state"].get("waiting", {})


ENV_CONTAINER = sleeper("app", """    envFrom:
    - {prefix: CFG_, configMapRef: {name: app}}
    - secretRef: {name: creds}
    - configMapRef: {name: absent, optional: true}
    env:
    - {name: CFG_mode, value: "env wins"}
    - name: LEVEL
      valueFrom: {configMapKeyRef: {name: app, key: level}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: creds, key: password}}
    - name: MAYBE
      valueFrom: {configMapKeyRef: {name: app, key: nope, optional: true}}
    - name: NEEDED
      valueFrom: {configMapKeyRef: {name: late, key: k}}
""")


def test_env_waits_for_a_missing_key_then_starts(node: Node) -> None:  # noqa: F811
    put(node, config_map("app", mode="prod", level="3"), notify=False)
    put(node, secret("creds", password=SECRET_VALUE, user="admin"), notify=False)
    node.apply(pod_yaml("envpod", ENV_CONTAINER))
    # The ConfigMap "late" does not exist: CreateContainerConfigError with the kubelet's message.
    reason = poll("CreateContainerConfigError", lambda: waiting(node, "envpod").get("reason") == "CreateContainerConfigError")
    assert reason
    assert waiting(node, "envpod")["message"] == 'configmap "late" not found'
    assert node.pod_json("envpod")["status"]["phase"] == "Pending"
    described = node.run("describe", "pod", "envpod").stdout
    assert "CreateContainerConfigError" in described
    assert ("Warning", "Failed", 'Error: configmap "late" not found') in describe_events(node, "envpod")
    # The object without the key: the message names the key.
    put(node, config_map("late", other="x"))
    poll("the missing key's message", lambda: waiting(node, "envpod").get("message") ==
         "couldn't find key k in ConfigMap default/late")
    put(node, config_map("late", k="finally"))
    node.wait_running("envpod")
    env = env_of(node, "envpod", "app")
    assert env["CFG_mode"] == "env wins" and env["CFG_level"] == "3"  # env over envFrom, with the prefix
    assert env["LEVEL"] == "3" and env["NEEDED"] == "finally"
    assert env["PASSWORD"] == SECRET_VALUE and env["password"] == SECRET_VALUE and env["user"] == "admin"
    assert "MAYBE" not in env
    # Env never changes in a running container.
    put(node, config_map("app", mode="prod", level="4"))
    assert env_of(node, "envpod", "app")["LEVEL"] == "3"
    # The Secret's value is in the container's env and its config.json (0600), nowhere else of pyrunc's.
    config = node.pod_dir("envpod") / "containers" / "app" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    described = node.run("describe", "pod", "envpod").stdout
    assert SECRET_VALUE not in described and "<set to the key 'password' in secret 'creds'>" in described
    assert SECRET_VALUE not in node.run("get", "pod", "envpod", "-o", "yaml").stdout
    assert SECRET_VALUE not in (node.pod_dir("envpod") / "events.json").read_text()
    for path in Path(node.root).rglob("*.log"):
        assert SECRET_VALUE not in path.read_text(errors="replace")


VOLUME_CONTAINER = sleeper("app", """    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: cfg, mountPath: /etc/greeting, subPath: greeting}
    - {name: sec, mountPath: /etc/sec}
    - {name: proj, mountPath: /etc/proj}
    - {name: info, mountPath: /etc/info}
    - {name: maybe, mountPath: /etc/maybe}
""")
VOLUMES = """  securityContext: {fsGroup: 2000}
  volumes:
  - name: cfg
    configMap:
      name: app
      defaultMode: 0640
      items:
      - {key: greeting, path: greeting}
      - {key: mode, path: conf/mode.txt, mode: 0600}
  - name: sec
    secret: {secretName: creds, defaultMode: 0400}
  - name: proj
    projected:
      sources:
      - configMap: {name: app, items: [{key: greeting, path: hello}]}
      - secret: {name: creds, items: [{key: user, path: who, mode: 0444}]}
      - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
  - name: info
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
  - name: maybe
    configMap: {name: absent, optional: true}
"""


def mount_types(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        out[left.split()[4]] = right.split()[0]
    return out


def host_mount_types() -> dict[str, str]:
    return mount_types(os.getpid())


def test_volumes_files_modes_updates(node: Node) -> None:  # noqa: F811
    put(node, config_map("app", greeting="hello", mode="prod"), notify=False)
    put(node, secret("creds", password=SECRET_VALUE, user="admin"), notify=False)
    node.apply(pod_yaml("vols", VOLUME_CONTAINER, VOLUMES, metadata="  labels: {tier: one}\n"))
    node.wait_running("vols")

    def cat(path: str) -> str:
        return node.exec("vols", "app", "cat", path).stdout

    def mode(path: str) -> str:
        return node.exec("vols", "app", "stat", "-L", "-c", "%a %g", path).stdout.strip()

    assert cat("/etc/cfg/greeting") == "hello" and cat("/etc/cfg/conf/mode.txt") == "prod"
    assert cat("/etc/greeting") == "hello"
    # Modes: item mode, defaultMode, then fsGroup's group read bits (the kubelet's ownership management).
    assert mode("/etc/cfg/conf/mode.txt") == "640 2000" and mode("/etc/cfg/greeting") == "640 2000"
    assert mode("/etc/sec/password") == "440 2000" and cat("/etc/sec/password") == SECRET_VALUE
    assert cat("/etc/proj/hello") == "hello" and cat("/etc/proj/who") == "admin"
    assert mode("/etc/proj/who") == "444 2000" and mode("/etc/proj/hello") == "644 2000"
    assert cat("/etc/proj/labels") == 'tier="one"' and cat("/etc/info/labels") == 'tier="one"'
    # Optional and absent: an empty volume (only the writer's own entries).
    assert all(e.startswith("..") for e in node.exec("vols", "app", "ls", "-A", "/etc/maybe").stdout.split())
    described = node.run("describe", "pod", "vols").stdout
    assert "Projected (a volume that contains injected data from multiple sources)" in described
    assert SECRET_VALUE not in described
    # The atomic writer's layout, seen in the container.
    listing = node.exec("vols", "app", "ls", "-A", "/etc/cfg").stdout.split()
    assert "..data" in listing and "greeting" in listing and "conf" in listing
    assert any(e.startswith("..20") for e in listing)
    assert node.exec("vols", "app", "readlink", "/etc/cfg/greeting").stdout.strip() == "..data/greeting"
    # Read-only in the container whatever the volumeMount says.
    assert node.exec("vols", "app", "touch", "/etc/cfg/x", check=False).returncode != 0
    # Secret and projected volumes are a tmpfs: in the container and on the host.
    pid = node.container_pid("vols", "app")
    types = mount_types(pid)
    assert types["/etc/sec"] == "tmpfs" and types["/etc/proj"] == "tmpfs"
    vol_dir = node.pod_dir("vols") / "volumes"
    host = host_mount_types()
    assert host[str(vol_dir / "sec")] == "tmpfs" and host[str(vol_dir / "proj")] == "tmpfs"

    # An update of the ConfigMap reaches the mounted files; the subPath bind keeps the old content.
    put(node, config_map("app", greeting="bonjour", mode="prod"))
    poll("the updated file", lambda: cat("/etc/cfg/greeting") == "bonjour")
    poll("the projected file", lambda: cat("/etc/proj/hello") == "bonjour")
    assert cat("/etc/greeting") == "hello"
    listing = node.exec("vols", "app", "ls", "-A", "/etc/cfg").stdout.split()
    assert len([e for e in listing if e.startswith("..20")]) == 1  # the old data dir is gone
    assert mode("/etc/cfg/greeting") == "640 2000"

    # New labels (apply with other metadata): the label files are rewritten, nothing restarts.
    node.apply(pod_yaml("vols", VOLUME_CONTAINER, VOLUMES, metadata="  labels: {tier: two, extra: x}\n"))
    poll("the label file", lambda: cat("/etc/info/labels") == 'extra="x"\ntier="two"')
    assert cat("/etc/proj/labels") == 'extra="x"\ntier="two"'
    assert node.pod_json("vols")["status"]["containerStatuses"][0]["restartCount"] == 0


def test_missing_config_map_volume_fails_the_mount(node: Node) -> None:  # noqa: F811
    manifest = pod_yaml("mnt", sleeper("app", "    volumeMounts: [{name: cfg, mountPath: /etc/cfg}]\n"),
                        "  volumes:\n  - name: cfg\n    configMap: {name: later}\n")
    node.apply(manifest)
    # The kubelet: FailedMount events, the pod stays ContainerCreating (no container is created).
    poll("FailedMount", lambda: ("Warning", "FailedMount",
                                 'MountVolume.SetUp failed for volume "cfg" : configmap "later" not found')
         in describe_events(node, "mnt"))
    assert waiting(node, "mnt").get("reason") == "ContainerCreating"
    put(node, config_map("later", k="v"))
    node.wait_running("mnt")
    assert node.exec("mnt", "app", "cat", "/etc/cfg/k").stdout == "v"
    pod_dir = node.pod_dir("mnt")
    node.delete("mnt")
    assert not pod_dir.exists()
    assert json.loads(json.dumps(node.leftovers())) == []
