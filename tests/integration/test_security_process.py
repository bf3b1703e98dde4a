"""Process security of container processes, read from the host: capabilities, no_new_privs, seccomp.

Each container's PID 1 is looked at through /proc/PID/status on the host, and `pyrunc exec` must give
an exec'd process the same settings. Seccomp is proven by a syscall: a tiny static C program
(`sysprobe`, built here with gcc into a copy of the busybox image) calls keyctl(2), which
containerd's default profile refuses with EPERM whatever the capabilities.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from pyrunc.linux import syscalls as sc
from tests.imagekit import File
from tests.integration.helpers import PYRUNC, Node, _node, import_image, pod_yaml, poll, seeded_store

pytestmark = [pytest.mark.root, pytest.mark.network]

DEFAULT = 0xA80425FB  # containerd's default set: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID ...
NET_ADMIN = 1 << 12
SLEEP = "command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']"

SYSPROBE_C = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
/* keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0): harmless, and refused by RuntimeDefault */
int main(int argc, char **argv) {
    if (argc != 2 || strcmp(argv[1], "keyctl") != 0)
        return 2;
    long r = syscall(SYS_keyctl, 0L, -3L, 0L);
    if (r < 0)
        printf("errno %d\n", errno);
    else
        printf("ok\n");
    return 0;
}
"""


def host_caps() -> int:
    """The bounding set of root on this host (privileged containers get exactly it)."""
    return status_of("self")["CapBnd"]


def status_of(pid: int | str) -> dict[str, int]:
    return parse_status(Path(f"/proc/{pid}/status").read_text())


def parse_status(text: str) -> dict[str, int]:
    """The capability sets, NoNewPrivs and Seccomp of a /proc/PID/status text."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            fields[key] = int(value.strip(), 16)
        elif key in ("NoNewPrivs", "Seccomp"):
            fields[key] = int(value.strip())
    return fields


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding busybox with /bin/sysprobe (static) in a layer of its own."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is missing (scripts/setup.sh --test installs gcc and libc6-dev)")
    base = tmp_path_factory.mktemp("images")
    src = base / "sysprobe.c"
    src.write_text(SYSPROBE_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(base / "sysprobe"), str(src)], check=True, capture_output=True)
    store = seeded_store(base / "store")
    import_image(store, "busybox", [File("bin/sysprobe", (base / "sysprobe").read_bytes(), mode=0o755)])
    return store


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The node's Localhost profile directory: one profile refusing mkdir, one outside reach."""
    root = tmp_path_factory.mktemp("seccomp")
    deny_mkdir = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    (root / "profiles").mkdir()
    (root / "profiles" / "deny-mkdir.json").write_text(json.dumps(deny_mkdir))
    (root / "profiles" / "escape.json").symlink_to("/etc/passwd")
    return root


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, images: Path, profiles: Path) -> Iterator[Node]:
    yield from _node(tmp_path_factory.mktemp("node"), images_dir=str(images), seccomp_profile_root=str(profiles))


@pytest.fixture(scope="module")
def default_node(tmp_path_factory: pytest.TempPathFactory, images: Path) -> Iterator[Node]:
    """A node with `seccomp_default: true`, like a kubelet with --seccomp-default."""
    yield from _node(tmp_path_factory.mktemp("node"), images_dir=str(images), seccomp_default=True)


def container(name: str, security: str = "") -> str:
    sc = f"    securityContext:\n{security}" if security else ""
    return f"  - name: {name}\n    image: busybox\n    {SLEEP}\n{sc}"


CAPS_POD = pod_yaml("caps", "".join([
    container("plain"),
    container("dropall", "      capabilities: {drop: [ALL]}\n"),
    container("netadmin", "      capabilities: {add: [NET_ADMIN]}\n"),
    container("prefixed", "      capabilities: {add: [CAP_NET_ADMIN], drop: [CAP_KILL]}\n"),
    container("addall", "      capabilities: {add: [ALL], drop: [NET_ADMIN]}\n"),
    container("privileged", "      privileged: true\n      seccompProfile: {type: RuntimeDefault}\n"),
    container("user", "      runAsUser: 1000\n"),
    container("nnp", "      allowPrivilegeEscalation: false\n"),
    container("escalate", "      allowPrivilegeEscalation: true\n"),
]))


@pytest.fixture(scope="module")
def caps_pod(node: Node) -> Node:
    node.apply(CAPS_POD)
    node.wait_running("caps")
    return node


def pid1(node: Node, pod: str, name: str) -> dict[str, int]:
    return status_of(node.container_pid(pod, name))


def test_default_set_is_containerds(caps_pod: Node) -> None:
    st = pid1(caps_pod, "caps", "plain")
    assert st["CapBnd"] == st["CapEff"] == st["CapPrm"] == DEFAULT, {k: hex(v) for k, v in st.items()}
    assert st["CapInh"] == st["CapAmb"] == 0
    assert st["NoNewPrivs"] == 0 and st["Seccomp"] == 0


def test_drop_all_leaves_nothing(caps_pod: Node) -> None:
    st = pid1(caps_pod, "caps", "dropall")
    assert st["CapBnd"] == st["CapEff"] == st["CapPrm"] == st["CapInh"] == st["CapAmb"] == 0


def test_add_net_admin_and_it_works(caps_pod: Node) -> None:
    st = pid1(caps_pod, "caps", "netadmin")
    assert st["CapBnd"] == st["CapEff"] == st["CapPrm"] == DEFAULT | NET_ADMIN
    assert pid1(caps_pod, "caps", "prefixed")["CapEff"] == (DEFAULT | NET_ADMIN) & ~(1 << 5)  # CAP_KILL is 5
    # The containers share the pod's network namespace: only the one with NET_ADMIN may change it.
    refused = caps_pod.exec("caps", "plain", "ip", "link", "set", "lo", "mtu", "1400", check=False)
    assert refused.returncode != 0 and "not permitted" in refused.stderr.lower(), refused
    caps_pod.exec("caps", "netadmin", "ip", "link", "set", "lo", "mtu", "1400")
    shown = caps_pod.exec("caps", "plain", "ip", "link", "show", "lo").stdout
    assert "mtu 1400" in shown


def test_add_all_then_drop(caps_pod: Node) -> None:
    st = pid1(caps_pod, "caps", "addall")
    assert st["CapEff"] == st["CapBnd"] == host_caps() & ~NET_ADMIN


def test_privileged_has_every_capability_and_no_seccomp(caps_pod: Node) -> None:
    st = pid1(caps_pod, "caps", "privileged")
    assert st["CapBnd"] == st["CapEff"] == st["CapPrm"] == host_caps()
    assert st["CapInh"] == st["CapAmb"] == 0
    assert st["Seccomp"] == 0  # containerd sets no profile for a privileged container, even an explicit one


def test_non_root_user_has_no_effective_capabilities(caps_pod: Node) -> None:
    st = pid1(caps_pod, "caps", "user")
    assert st["CapEff"] == st["CapPrm"] == st["CapInh"] == st["CapAmb"] == 0
    assert st["CapBnd"] == DEFAULT


def test_no_new_privs_follows_allow_privilege_escalation(caps_pod: Node) -> None:
    assert pid1(caps_pod, "caps", "nnp")["NoNewPrivs"] == 1
    assert pid1(caps_pod, "caps", "escalate")["NoNewPrivs"] == 0
    assert pid1(caps_pod, "caps", "plain")["NoNewPrivs"] == 0


def test_exec_gets_the_same_process_security(caps_pod: Node) -> None:
    for name in ("plain", "dropall", "netadmin", "user", "nnp", "privileged"):
        init = pid1(caps_pod, "caps", name)
        execd = parse_status(caps_pod.exec("caps", name, "cat", "/proc/self/status").stdout)
        for key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "NoNewPrivs", "Seccomp"):
            assert execd[key] == init[key], (name, key, hex(execd[key]), hex(init[key]))


SECCOMP_POD = pod_yaml("seccomp", "".join([
    container("runtime", "      seccompProfile: {type: RuntimeDefault}\n"),
    container("unset"),
    container("unconfined", "      seccompProfile: {type: Unconfined}\n"),
    container("localhost", "      seccompProfile: {type: Localhost, localhostProfile: profiles/deny-mkdir.json}\n"),
    container("strict", "      runAsUser: 1000\n      allowPrivilegeEscalation: false\n"
                        "      seccompProfile: {type: RuntimeDefault}\n"),
]))


@pytest.fixture(scope="module")
def seccomp_pod(node: Node) -> Node:
    node.apply(SECCOMP_POD)
    node.wait_running("seccomp")
    return node


def test_runtime_default_filters_and_refuses_keyctl(seccomp_pod: Node) -> None:
    st = pid1(seccomp_pod, "seccomp", "runtime")
    assert st["Seccomp"] == 2 and st["NoNewPrivs"] == 0
    assert st["CapEff"] == DEFAULT
    out = seccomp_pod.exec("seccomp", "runtime", "sysprobe", "keyctl").stdout.strip()
    assert out == "errno 1", out  # EPERM
    # Ordinary work still runs under the filter: files, processes, sockets.
    seccomp_pod.exec("seccomp", "runtime", "sh", "-c", "mkdir /tmp/d && echo x > /tmp/d/f && cat /tmp/d/f | grep -q x")


def test_unconfined_by_default_and_keyctl_works(seccomp_pod: Node) -> None:
    for name in ("unset", "unconfined"):
        assert pid1(seccomp_pod, "seccomp", name)["Seccomp"] == 0
        out = seccomp_pod.exec("seccomp", name, "sysprobe", "keyctl").stdout.strip()
        assert out != "errno 1", (name, out)


def test_localhost_profile_refuses_mkdir(seccomp_pod: Node) -> None:
    assert pid1(seccomp_pod, "seccomp", "localhost")["Seccomp"] == 2
    refused = seccomp_pod.exec("seccomp", "localhost", "mkdir", "/tmp/nope", check=False)
    assert refused.returncode != 0 and "not permitted" in refused.stderr.lower(), refused
    seccomp_pod.exec("seccomp", "localhost", "touch", "/tmp/file")  # the rest is allowed
    assert seccomp_pod.exec("seccomp", "localhost", "sysprobe", "keyctl").stdout.strip() == "ok"


def test_non_root_with_no_new_privs_and_filter(seccomp_pod: Node) -> None:
    st = pid1(seccomp_pod, "seccomp", "strict")
    assert (st["Seccomp"], st["NoNewPrivs"], st["CapEff"], st["CapBnd"]) == (2, 1, 0, DEFAULT)
    execd = parse_status(seccomp_pod.exec("seccomp", "strict", "cat", "/proc/self/status").stdout)
    assert (execd["Seccomp"], execd["NoNewPrivs"], execd["CapEff"]) == (2, 1, 0)
    assert seccomp_pod.exec("seccomp", "strict", "sysprobe", "keyctl").stdout.strip() == "errno 1"


def waiting_reason(node: Node, pod: str, name: str) -> tuple[str, str]:
    def reason() -> tuple[str, str] | None:
        for s in node.pod_json(pod)["status"].get("containerStatuses", []):
            waiting = s["state"].get("waiting") or {}
            if s["name"] == name and waiting.get("reason") == "CreateContainerConfigError":
                return waiting["reason"], waiting.get("message", "")
        return None

    return poll(f"{pod}/{name} waiting with CreateContainerConfigError", reason)  # type: ignore[no-any-return]


@pytest.mark.parametrize("profile, words", [
    ("profiles/missing.json", "No such file"),
    ("profiles/escape.json", "escapes the profile directory"),
])
def test_unusable_localhost_profile_is_a_config_error(node: Node, profile: str, words: str) -> None:
    name = "badprofile-" + profile.split("/")[1].split(".")[0]
    node.apply(pod_yaml(name, container("c", f"      seccompProfile: {{type: Localhost, localhostProfile: {profile}}}\n")))
    reason, message = waiting_reason(node, name, "c")
    assert words in message, message
    node.delete(name)


def test_node_seccomp_default(default_node: Node) -> None:
    pod = pod_yaml("nodedefault", "".join([
        container("unset"),
        container("optout", "      seccompProfile: {type: Unconfined}\n"),
        container("privileged", "      privileged: true\n"),
    ]), extra_spec="  securityContext:\n    seccompProfile: {type: RuntimeDefault}\n")
    default_node.apply(pod)
    default_node.wait_running("nodedefault")
    assert pid1(default_node, "nodedefault", "unset")["Seccomp"] == 2
    assert pid1(default_node, "nodedefault", "optout")["Seccomp"] == 0  # the container's profile wins over the pod's
    assert pid1(default_node, "nodedefault", "privileged")["Seccomp"] == 0
    pod2 = pod_yaml("nodedefault2", container("unset"))
    default_node.apply(pod2)
    default_node.wait_running("nodedefault2")
    assert pid1(default_node, "nodedefault2", "unset")["Seccomp"] == 2  # no profile anywhere: the node's default
    default_node.delete("nodedefault")
    default_node.delete("nodedefault2")


@pytest.mark.parametrize("security, path, words", [
    ("      privileged: true\n      allowPrivilegeEscalation: false\n", "spec.containers[0].securityContext",
     "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"),
    ("      capabilities: {add: [NET_ADMIN, BOGUS]}\n", "spec.containers[0].securityContext.capabilities.add[1]",
     '"BOGUS"'),
    ("      appArmorProfile: {type: RuntimeDefault}\n", "spec.containers[0].securityContext.appArmorProfile.type",
     "does not support AppArmor"),
    ("      seccompProfile: {type: Localhost}\n", "spec.containers[0].securityContext.seccompProfile.localhostProfile",
     "Required value"),
])
def test_refused_with_the_field_path(node: Node, security: str, path: str, words: str) -> None:
    proc = node.apply(pod_yaml("refused", container("c", security)), check=False)
    node.pods.discard(("default", "refused"))
    assert proc.returncode == 1
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and path + ":" in line and words in line, line
    assert "Traceback" not in proc.stderr
    assert not node.pod_dir("refused").exists()


def sig_ignored(status_text: str) -> int:
    return int(next(line for line in status_text.splitlines() if line.startswith("SigIgn:")).split()[1], 16)


def test_no_signal_of_the_runtime_is_left_ignored(caps_pod: Node) -> None:
    """Python ignores SIGPIPE and SIGXFSZ, a caller may ignore more (a CI runner ignored glibc's own
    32 and 33), and an ignored signal survives execve: the runtime must start every container process
    with every signal at its default, as runc does, or `yes | head` in a container never sees SIGPIPE."""
    pipe_xfsz = (1 << (13 - 1)) | (1 << (25 - 1))
    pid = caps_pod.container_pid("caps", "plain")
    assert sig_ignored(Path(f"/proc/{pid}/status").read_text()) & pipe_xfsz == 0

    def ignore_some() -> None:  # the caller of `pyrunc exec` ignores SIGUSR1 and glibc's reserved two
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        for sig in sc.GLIBC_RESERVED_SIGNALS:
            sc.set_signal_disposition(sig, sc.SIG_IGN)

    proc = subprocess.run([*PYRUNC, "--root", caps_pod.root, "exec", "caps", "-c", "plain", "--", "cat",
                           "/proc/self/status"], capture_output=True, text=True, timeout=60, preexec_fn=ignore_some)
    assert proc.returncode == 0, proc.stderr
    assert sig_ignored(proc.stdout) == 0, hex(sig_ignored(proc.stdout))
