"""Bad manifests are rejected at the door: exit 1, one `error: ` line naming the field path, no
traceback, and nothing created (no pod dir, no supervisor started, no mount)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import Node, mounts_under, node  # noqa: F401

pytestmark = [pytest.mark.root]

ONE = "  containers:\n  - name: a\n    image: busybox\n"


def pod(spec: str = ONE, name: str = "x", kind: str = "Pod") -> str:
    return f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"


CASES = {
    "dotdot-name": (pod(name='"../x"'), "error: metadata.name: Invalid value: \"../x\""),
    "slash-name": (pod(name="a/b"), "error: metadata.name: Invalid value: \"a/b\""),
    "duplicate-container": (pod(ONE + "  - name: a\n    image: busybox\n"),
                            'error: spec.containers[1].name: Duplicate value: "a"'),
    "missing-volume": (pod(ONE + "    volumeMounts: [{name: data, mountPath: /d}]\n"),
                       "error: spec.containers[0].volumeMounts[0].name: Not found: \"data\""),
    "restart-policy": (pod("  restartPolicy: Sometimes\n" + ONE),
                       'error: spec.restartPolicy: Unsupported value: "Sometimes"'),
    "quantity": (pod(ONE + "  - name: b\n    image: busybox\n    resources: {limits: {memory: 12Q}}\n"),
                 'error: spec.containers[1].resources.limits.memory: invalid quantity "12Q"'),
    "unknown-field": (pod(ONE + "    workdir: /tmp\n"),
                      'error: spec.containers[0].workdir: unknown field "workdir" (did you mean "workingDir"?)'),
    "yaml-syntax": (pod(ONE + "   command: [sh\n"), "error: error parsing STDIN: line 9,"),
    "wrong-type": (pod(ONE + "    command: echo\n"), "error: spec.containers[0].command: expected array"),
    "wrong-type-int": (pod("  terminationGracePeriodSeconds: soon\n" + ONE),
                       "error: spec.terminationGracePeriodSeconds: expected integer"),
    "service": (pod("  ports: []\n", kind="Service"), 'error: kind: Unsupported value: "Service"'),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_manifest_rejected_nothing_created(node: Node, case: str) -> None:  # noqa: F811
    manifest, expected = CASES[case]
    proc = node.run("apply", "-f", "-", input=manifest, check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(expected), lines[0]
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in Path(node.root).iterdir()) == ["config.json"]
    assert mounts_under(node.root) == []


def test_quantity_message_is_exact(node: Node) -> None:  # noqa: F811
    manifest, _ = CASES["quantity"]
    proc = node.run("apply", "-f", "-", input=manifest, check=False)
    assert proc.stderr == 'error: spec.containers[1].resources.limits.memory: invalid quantity "12Q"\n'


def test_yaml_error_names_the_file(node: Node, tmp_path: Path) -> None:  # noqa: F811
    bad = tmp_path / "bad.yaml"
    bad.write_text(CASES["yaml-syntax"][0])
    proc = node.run("apply", "-f", str(bad), check=False)
    assert proc.returncode == 1 and str(bad) in proc.stderr and "line 9," in proc.stderr


def test_one_bad_document_creates_none(node: Node) -> None:  # noqa: F811
    good = pod(name="fine")
    bad, _ = CASES["restart-policy"]
    proc = node.run("apply", "-f", "-", input=good + "---\n" + bad, check=False)
    assert proc.returncode == 1 and "spec.restartPolicy" in proc.stderr
    assert not Path(node.root, "pods").exists() or not any(Path(node.root, "pods").iterdir())
