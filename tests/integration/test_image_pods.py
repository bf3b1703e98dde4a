"""Issue 10 points 5 and 6, with real pods: images pulled from a registry on loopback by the pod worker,
the kubelet's pull policy, waiting reasons and events, and the image's config applied with Kubernetes'
rules. Looked at from the host: the registry's request counts (a proxy in front of it), the overlay
mount of the container's root, /proc/PID/{cmdline,status,environ}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests import imagekit as k
from tests.integration.helpers import Node, _node, poll, pod_yaml
from tests.integration.supervision_helpers import describe_events, status_of, wait_status
from tests.registry_fixture import CutProxy, Registry, missing_tools, push_layout, start_registry

pytestmark = [pytest.mark.root]

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/data:/bin/sh\n"
GROUP = "root:x:0:\napp:x:2345:\n"


def _app_image(tmp: Path) -> k.ImageSpec:
    """busybox under a layer with a file, a removed file (whiteout), an opaque directory and a user."""
    top = k.Layer([k.File("etc/motd", b"from the top layer\n"), k.Whiteout("etc/hosts.allow"),
                   k.File("etc/passwd", PASSWD.encode()), k.File("etc/group", GROUP.encode()),
                   k.Dir("data", uid=1234, gid=2345), k.Opaque("var/www"), k.File("var/www/new", b"new\n")],
                  compression="zstd")
    middle = k.Layer([k.File("etc/hosts.allow", b"ALL: ALL\n"), k.File("var/www/old", b"old\n")])
    return k.ImageSpec("app:v1", [k.busybox_layer(tmp), middle, top], entrypoint=["sh", "-c"],
                       cmd=["echo started by the image; exec sleep 3600", "image-arg0"],
                       env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FROM_IMAGE=yes", "OVERRIDE=image"],
                       working_dir="/data", user="app", stop_signal="SIGUSR1", architecture=k.host_arch())


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, CutProxy]]:
    """One registry (behind a counting proxy) holding app:v1, app:latest and a plain busybox."""
    if why := missing_tools():
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("registry")
    reg = start_registry(tmp / "reg")
    proxy = CutProxy(int(reg.host.rsplit(":", 1)[1]))
    try:
        layout = k.Layout(tmp / "layout")
        layout.add(_app_image(tmp))
        layout.add(k.ImageSpec("plain:v1", [k.busybox_layer(tmp)], cmd=["sleep", "3600"], architecture=k.host_arch()))
        layout.close()
        push_layout(reg, tmp / "layout", "app:v1", "app:v1")
        push_layout(reg, tmp / "layout", "app:v1", "app:latest")
        push_layout(reg, tmp / "layout", "plain:v1", "plain:v1")
        yield reg, proxy
    finally:
        proxy.stop()
        reg.stop()


@pytest.fixture
def pnode(tmp_path: Path) -> Iterator[Node]:
    """A node with a store of its own (empty) and the back-off shortened."""
    yield from _node(tmp_path, images_dir=str(tmp_path / "store"), crashloop_max_backoff=2)


def container(name: str, image: str, extra: str = "") -> str:
    return f"  - name: {name}\n    image: {image}\n{extra}"


def manifests(proxy: CutProxy, repo: str) -> int:
    return proxy.count(f"/v2/{repo}/manifests/")


def events(node: Node, pod: str) -> list[tuple[str, str, str]]:
    return describe_events(node, pod)


def waiting_reason(node: Node, pod: str, reason: str, container_name: str = "c") -> dict[str, Any]:
    obj = wait_status(node, pod, f"waiting {reason}",
                      lambda s: s["state"].get("waiting", {}).get("reason") == reason, container=container_name)
    return dict(status_of(obj, container_name)["state"]["waiting"])


# ------------------------------------------------------------------ pulls by the pod worker
def test_if_not_present_pulls_once_and_the_layers_are_the_containers_lower_dirs(
        pnode: Node, registry: tuple[Registry, CutProxy]) -> None:
    reg, proxy = registry
    image = f"{proxy.host}/app:v1"  # a tag that is not latest: IfNotPresent
    before = manifests(proxy, "app")
    pnode.apply(pod_yaml("first", container("c", image)))
    pnode.wait_running("first")
    got = events(pnode, "first")
    assert ("Normal", "Pulling", f'Pulling image "{image}"') in got
    pulled = [m for t, r, m in got if r == "Pulled"]
    assert len(pulled) == 1 and pulled[0].startswith(f'Successfully pulled image "{image}" in ')
    assert " including waiting). Image size: " in pulled[0] and pulled[0].endswith(" bytes.")
    assert manifests(proxy, "app") > before
    st = status_of(pnode.pod_json("first"))
    assert st["imageID"].startswith(f"{proxy.host}/app@sha256:")

    # The container's root: an overlay whose lower directories are the store's layers, top first.
    pid = pnode.container_pid("first", "c")
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8") as f:
        root = next(line for line in f if line.split()[4] == "/")
    lower = next(o for o in root.split(" - ")[1].split()[2].split(",") if o.startswith("lowerdir="))
    layers = lower.split("=", 1)[1].split(":")
    store_layers = Path(pnode.images_dir, "layers")
    assert len(layers) == 3 and all(Path(p).parent.parent == store_layers for p in layers), layers
    # The store is root's alone: its layers hold the image's setuid binaries, out of local users' reach.
    assert os.stat(pnode.images_dir).st_mode & 0o077 == 0
    # Seen through the stack: the top layer's file, a whiteout, an opaque directory.
    out = pnode.exec("first", "c", "sh", "-c", "cat /etc/motd; ls /var/www; test -e /etc/hosts.allow || echo gone").stdout
    assert out.split() == ["from", "the", "top", "layer", "new", "gone"]

    # A second pod on the image: no request to the registry, the same layer directories.
    count = manifests(proxy, "app")
    pnode.apply(pod_yaml("second", container("c", image)))
    pnode.wait_running("second")
    assert ("Normal", "Pulled", f'Container image "{image}" already present on machine') in events(pnode, "second")
    assert manifests(proxy, "app") == count
    assert sorted(os.listdir(store_layers)) == sorted(Path(p).parent.name for p in layers)


def test_always_asks_the_registry_before_every_start(pnode: Node, registry: tuple[Registry, CutProxy]) -> None:
    reg, proxy = registry
    image = f"{proxy.host}/plain:v1"
    pnode.apply(pod_yaml("warm", container("c", image, "    imagePullPolicy: IfNotPresent\n")))
    pnode.wait_running("warm")
    count = proxy.count("/v2/plain/manifests/")
    # Present, but Always: asked again; a container that exits is restarted, and asked again each time.
    pnode.apply(pod_yaml("always", container("c", image, "    imagePullPolicy: Always\n    command: [sh, -c, 'sleep 0.2']\n")))
    poll("two restarts", lambda: status_of(pnode.pod_json("always"))["restartCount"] >= 2, timeout=60)
    assert proxy.count("/v2/plain/manifests/") >= count + 3
    pulled = [m for t, r, m in events(pnode, "always") if r == "Pulled"]
    assert pulled and all(m.startswith(f'Successfully pulled image "{image}"') for m in pulled)


def test_latest_defaults_to_always(pnode: Node, registry: tuple[Registry, CutProxy]) -> None:
    reg, proxy = registry
    pnode.apply(pod_yaml("latest", container("c", f"{proxy.host}/app")))
    pnode.wait_running("latest")
    assert pnode.pod_json("latest")["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert any(r == "Pulling" for _, r, _ in events(pnode, "latest"))


def test_never_with_the_image_missing_is_err_image_never_pull(pnode: Node, registry: tuple[Registry, CutProxy]) -> None:
    reg, proxy = registry
    image = f"{proxy.host}/app:v1"
    count = manifests(proxy, "app")
    pnode.apply(pod_yaml("never", container("c", image, "    imagePullPolicy: Never\n")))
    waiting = waiting_reason(pnode, "never", "ErrImageNeverPull")
    assert waiting["message"] == f'Container image "{image}" is not present with pull policy of Never'
    assert ("Warning", "ErrImageNeverPull", waiting["message"]) in events(pnode, "never")
    assert manifests(proxy, "app") == count  # the registry was never asked
    assert not pnode.state("never", "c").get("pid")


def test_a_missing_image_is_err_image_pull_then_image_pull_backoff(pnode: Node, registry: tuple[Registry, CutProxy]) -> None:
    reg, proxy = registry
    image = f"{proxy.host}/nope:v1"
    pnode.apply(pod_yaml("missing", container("c", image)))
    waiting = waiting_reason(pnode, "missing", "ErrImagePull")
    assert waiting["message"].startswith(f'Failed to pull image "{image}": ')
    assert "not found" in waiting["message"]
    # The worker looks again within the 10 s back-off: ImagePullBackOff, as the kubelet shows it.
    waiting = waiting_reason(pnode, "missing", "ImagePullBackOff")
    assert waiting["message"] == f'Back-off pulling image "{image}"'
    got = events(pnode, "missing")
    assert ("Warning", "Failed", "Error: ErrImagePull") in got
    assert ("Normal", "BackOff", f'Back-off pulling image "{image}"') in got
    assert ("Warning", "Failed", "Error: ImagePullBackOff") in got
    assert not list(Path(pnode.images_dir).glob("layers/*"))  # nothing was stored


def test_a_registry_that_is_down_is_err_image_pull(pnode: Node, registry: tuple[Registry, CutProxy]) -> None:
    from tests.registry_fixture import free_port

    image = f"127.0.0.1:{free_port()}/app:v1"  # nothing listens there
    pnode.apply(pod_yaml("down", container("c", image)))
    waiting = waiting_reason(pnode, "down", "ErrImagePull")
    assert waiting["message"].startswith(f'Failed to pull image "{image}": ')
    assert "connection refused" in waiting["message"]


def test_an_offline_node_never_asks_a_registry_off_this_host(pnode: Node) -> None:
    # docker.io with no such image here: refused without any lookup (no DNS, no connection).
    pnode.apply(pod_yaml("offline", container("c", "docker.io/library/nginx:1.25")))
    waiting = waiting_reason(pnode, "offline", "ErrImagePull")
    assert "the node is offline: registry docker.io is not contacted" in waiting["message"]


# ------------------------------------------------------------------ the image's config, Kubernetes' rules
def test_the_image_config_is_applied_with_kubernetes_rules(pnode: Node, registry: tuple[Registry, CutProxy]) -> None:
    reg, proxy = registry
    image = f"{proxy.host}/app:v1"
    containers = (container("image", image)
                  + container("args", image, "    args: ['echo args replace Cmd; exec sleep 3600', 'arg0']\n")
                  + container("command", image, "    command: [sleep, '3601']\n")
                  + container("own", image, "    env: [{name: OVERRIDE, value: pod}]\n    workingDir: /tmp\n"
                                            "    securityContext: {runAsUser: 0}\n"))
    pnode.apply(pod_yaml("config", containers))
    pnode.wait_running("config")

    def cmdline(c: str) -> list[str]:
        with open(f"/proc/{pnode.container_pid('config', c)}/cmdline", "rb") as f:
            return f.read().decode().split("\0")[:-1]

    def environ(c: str) -> dict[str, str]:
        with open(f"/proc/{pnode.container_pid('config', c)}/environ", "rb") as f:
            return dict(kv.split("=", 1) for kv in f.read().decode().split("\0") if "=" in kv)

    # Entrypoint + Cmd; args replaces Cmd only; command replaces Entrypoint and drops Cmd.
    assert cmdline("image") == ["sleep", "3600"]  # sh -c "... exec sleep 3600": sh replaced itself
    assert cmdline("args") == ["sleep", "3600"]
    assert "args replace Cmd" in pnode.wait_log("config", "args", "args replace Cmd")
    assert "started by the image" in pnode.wait_log("config", "image", "started by the image")
    assert cmdline("command") == ["sleep", "3601"]
    # The image's Env under the container's own; WorkingDir; the named User from the image's passwd.
    env = environ("image")
    assert env["FROM_IMAGE"] == "yes" and env["OVERRIDE"] == "image"
    assert environ("own")["OVERRIDE"] == "pod" and environ("own")["FROM_IMAGE"] == "yes"
    assert os.readlink(f"/proc/{pnode.container_pid('config', 'image')}/cwd").endswith("/data")
    assert os.readlink(f"/proc/{pnode.container_pid('config', 'own')}/cwd").endswith("/tmp")
    with open(f"/proc/{pnode.container_pid('config', 'image')}/status", encoding="utf-8") as f:
        ids = {line.split(":")[0]: line.split()[1:] for line in f if line.startswith(("Uid", "Gid"))}
    assert ids["Uid"][0] == "1234" and ids["Gid"][0] == "2345"
    # StopSignal: the image's, recorded for the stop (the kubelet sends it instead of SIGTERM).
    assert json.loads((pnode.pod_dir("config") / "containers" / "image" / "container.json").read_text())["stopSignal"] == 10


# ------------------------------------------------------------------ credentials
def test_basic_auth_with_the_nodes_credentials(tmp_path: Path) -> None:
    if why := missing_tools():
        pytest.skip(why)
    reg = start_registry(tmp_path / "reg", auth="basic", users={"alice": "s3cret"})
    try:
        layout = k.write_layout(tmp_path / "layout", [k.ImageSpec("p:v1", [k.busybox_layer(tmp_path)],
                                                                   cmd=["sleep", "3600"], architecture=k.host_arch())])
        push_layout(reg, layout, "p:v1", "private/p:v1", creds=("alice", "s3cret"))
        auth = tmp_path / "auth.json"
        auth.write_text(json.dumps({"auths": {reg.host: {"username": "alice", "password": "s3cret"}}}))
        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps({"auths": {reg.host: {"username": "alice", "password": "nope"}}}))
        for creds, ok in ((auth, True), (wrong, False)):
            gen = _node(tmp_path / f"node-{ok}", images_dir=str(tmp_path / f"store-{ok}"),
                        registry_auth_files=[str(creds)])
            n = next(gen)
            try:
                n.apply(pod_yaml("private", container("c", f"{reg.host}/private/p:v1")))
                if ok:
                    n.wait_running("private")
                else:
                    waiting = waiting_reason(n, "private", "ErrImagePull")
                    assert "s3cret" not in waiting["message"] and "nope" not in waiting["message"]
                    assert "unauthorized" in waiting["message"].lower() or "authorize" in waiting["message"]
            finally:
                with pytest.raises(StopIteration):
                    next(gen)
    finally:
        reg.stop()
