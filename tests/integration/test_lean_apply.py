"""`pyrunc apply -f` through its lean path (cli/lean_apply.py, the supervisor's "apply-texts") prints, exits and
leaves the node exactly as the full CLI (cli/main.py) does: results, warnings, bad manifests, refusals, and
the lines it hands to the full CLI (several pods, ConfigMaps, stdin, flags it does not read)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import REPO, Node, node, pod_yaml, sleeper  # noqa: F401

pytestmark = [pytest.mark.root]

FULL = "import sys; from pyrunc.cli.main import main; sys.exit(main(sys.argv[1:]))"
LEAN_ONLY = ("import sys; from pyrunc.cli.lean_apply import run_apply; code = run_apply(sys.argv[1:]); "
             "print('lean', code, 'argparse' in sys.modules, file=sys.stderr)")

BAD = {
    "invalid": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n"
                "  - name: a\n    image: busybox\n    bogus: 1\n"),
    "quantity": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: q\nspec:\n  containers:\n  - name: a\n"
                 "    image: busybox\n    resources: {limits: {memory: 12Q}}\n"),
    "yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n",
    "other-node": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: far\nspec:\n  nodeName: elsewhere\n"
                   "  priorityClassName: nosuch\n  containers:\n  - name: a\n    image: busybox\n"),
    "sysctl": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: sys\nspec:\n  securityContext:\n"
               "    sysctls: [{name: kernel.msgmax, value: '1'}]\n  containers:\n  - name: a\n    image: busybox\n"),
    "empty": "---\n",
    "not-a-pod": "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
}


def _run(node: Node, code: str | None, *args: str, input: str | None = None) -> tuple[int, str, str]:
    """`pyrunc --root ROOT ARGS` through the entry point (code None: the lean path where it applies) or `code`."""
    prefix = [sys.executable, "-m", "pyrunc"] if code is None else [sys.executable, "-c", code]
    proc = subprocess.run([*prefix, "--root", node.root, *args], input=input, capture_output=True, text=True,
                          timeout=60, cwd=str(REPO))
    node._remember_daemon()
    return proc.returncode, proc.stdout, proc.stderr


def _pods(node: Node) -> list[str]:
    return sorted(p.name for p in (Path(node.root) / "pods").iterdir())


def _start_supervisor(node: Node) -> None:
    node.apply(pod_yaml("keep", sleeper("a")))
    node.wait_running("keep")


def test_bad_manifests_read_the_same_as_the_full_cli(node: Node, tmp_path: Path) -> None:  # noqa: F811
    _start_supervisor(node)
    daemon = node.daemon_pid()
    for case, manifest in BAD.items():
        path = tmp_path / f"{case}.yaml"
        path.write_text(manifest)
        full = _run(node, FULL, "apply", "-f", str(path))
        assert full[0] == 1 and full[2].startswith(("error: ", "Warning: ")) and "Traceback" not in full[2], full
        assert _run(node, None, "apply", "-f", str(path)) == full, case
        assert _run(node, None, "apply", "-f", "-", input=manifest) == _run(node, FULL, "apply", "-f", "-",
                                                                             input=manifest), case
        # Answered by the lean path (its exit status, not None), not handed to the full CLI.
        code, _, err = _run(node, LEAN_ONLY, "apply", "-f", str(path))
        assert code == 0 and "\nlean 1 " in err, (case, err)
    assert node.daemon_pid() == daemon
    assert _pods(node) == ["default_keep"]  # nothing left behind


def test_results_read_the_same_as_the_full_cli(node: Node, tmp_path: Path) -> None:  # noqa: F811
    _start_supervisor(node)
    warned = tmp_path / "warned.yaml"
    warned.write_text(pod_yaml("warned", sleeper("a"), extra_spec="  priorityClassName: nosuch\n"))
    node.pods.add(("default", "warned"))
    code, out, err = _run(node, LEAN_ONLY, "apply", "-f", str(warned))
    assert (code, out) == (0, "pod/warned created\n"), (out, err)
    assert err.startswith("Warning: spec.priorityClassName") and err.endswith("lean 0 False\n"), err
    node.wait_running("warned")
    uid = node.uid("warned")
    for args in (("-f", str(warned)), ("-f", str(warned), "-o", "name"), ("--filename", str(warned), "-oname")):
        assert _run(node, None, "apply", *args) == _run(node, FULL, "apply", *args), args
    assert _run(node, None, "apply", "-f", "-", input=warned.read_text())[:2] == (0, "pod/warned unchanged\n")
    # New labels: configured in place, either way.
    labelled = warned.read_text().replace("name: warned\n", "name: warned\n  labels: {a: b}\n")
    assert _run(node, None, "apply", "-f", "-", input=labelled)[:2] == (0, "pod/warned configured\n")
    relabelled = labelled.replace("{a: b}", "{a: c}")
    assert _run(node, FULL, "apply", "-f", "-", input=relabelled)[:2] == (0, "pod/warned configured\n")
    assert _run(node, None, "apply", "-f", "-", input=relabelled)[:2] == (0, "pod/warned unchanged\n")
    assert node.uid("warned") == uid
    assert node.pod_json("warned")["metadata"]["labels"] == {"a": "c"}
    # A changed spec: the pod is replaced (a new uid) and said "configured".
    changed = relabelled.replace("sleep 3600", "sleep 3601")
    assert _run(node, None, "apply", "-f", "-", input=changed)[:2] == (0, "pod/warned configured\n")
    node.wait_running("warned")
    assert node.uid("warned") != uid


def test_what_the_lean_path_hands_to_the_full_cli(node: Node, tmp_path: Path) -> None:  # noqa: F811
    # No supervisor yet: the full CLI checks the manifest and starts one.
    code, out, err = _run(node, LEAN_ONLY, "apply", "-f", "-", input=pod_yaml("first", sleeper("a")))
    assert (code, out) == (0, "") and err.endswith("lean None False\n"), err
    node.pods.add(("default", "first"))
    assert _run(node, None, "apply", "-f", "-", input=pod_yaml("first", sleeper("a")))[:2] == (0, "pod/first created\n")
    node.wait_running("first")
    # Several pods, from stdin (read once: the full CLI gets the same text), and a ConfigMap with a pod.
    two = pod_yaml("two-a", sleeper("a")) + "---\n" + pod_yaml("two-b", sleeper("a"))
    node.pods.update({("default", "two-a"), ("default", "two-b")})
    assert _run(node, None, "apply", "-f", "-", input=two)[:2] == (0, "pod/two-a created\npod/two-b created\n")
    with_cm = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {k: v}\n---\n" +
               pod_yaml("with-cm", sleeper("a")))
    node.pods.add(("default", "with-cm"))
    assert _run(node, None, "apply", "-f", "-", input=with_cm)[:2] == (0, "configmap/cm created\npod/with-cm created\n")
    for name in ("two-a", "two-b", "with-cm"):
        node.wait_running(name)
    # Lines and files it does not read itself: the full CLI's answers, word for word.
    for args in (("-f", str(tmp_path / "missing.yaml")), ("-f", str(tmp_path)), ("--dry-run", "-f", "-"),
                 ("-f",), ("-o", "yaml", "-f", "-"), ("--file", "-"), ("-f", "--x"), ()):
        manifest = pod_yaml("first", sleeper("a"))
        full = _run(node, FULL, "apply", *args, input=manifest)
        assert _run(node, None, "apply", *args, input=manifest) == full, args
    assert _pods(node) == ["default_first", "default_two-a", "default_two-b", "default_with-cm"]


def test_a_supervisor_of_another_build_hands_over(node: Node, tmp_path: Path) -> None:  # noqa: F811
    """The lean request carries the build: a supervisor of another build hands over, and the full CLI's
    client then starts one of ours, which adopts the pods (test_supervisor_upgrade.py has the full story)."""
    _start_supervisor(node)
    old = node.daemon_pid()
    code = ("import sys, pyrunc.build as b; b._cached = b.build_id() + 'x'; "
            "from pyrunc.cli.lean_apply import run_apply; sys.exit(run_apply(sys.argv[1:]) or 0)")
    manifest = pod_yaml("keep", sleeper("a"))
    assert _run(node, code, "apply", "-f", "-", input=manifest)[:2] == (0, "")  # handed over: nothing said
    assert _run(node, None, "apply", "-f", "-", input=manifest)[:2] == (0, "pod/keep unchanged\n")
    assert node.daemon_pid() != old
