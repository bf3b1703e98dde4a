"""Strict YAML at the door: duplicate keys, alias expansion, nesting depth and input size."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pyrunc.errors import SpecError
from pyrunc.spec import load_manifests
from pyrunc.spec.load import MAX_DEPTH, MAX_MANIFEST_BYTES

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: strict
spec:
  containers:
  - name: c
    image: busybox
    securityContext:
      runAsUser: 1000
"""


def _error(text: str, source: str = "pod.yaml") -> str:
    with pytest.raises(SpecError) as e:
        load_manifests(text, source)
    assert len(e.value.errors) == 1
    return str(e.value)


def test_duplicate_key_is_refused_with_its_path_and_lines():
    # Without the check the later key silently wins: the container would run as uid 0.
    text = POD + "      runAsUser: 0\n"
    assert _error(text) == ('spec.containers[0].securityContext.runAsUser: duplicate key at line 11: '
                            'mapping key "runAsUser" already defined at line 10')


def test_duplicate_top_level_key_and_in_a_later_document():
    assert _error(POD + "kind: Pod\n").startswith('kind: duplicate key at line 11')
    second = POD.replace("name: strict", "name: other") + "      runAsUser: 0\n"
    assert _error(POD + "---\n" + second).startswith(
        "document 2: spec.containers[0].securityContext.runAsUser: duplicate key at line 22")


def test_duplicate_key_in_json_input():
    text = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
                       "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    text = text.replace('"name": "j"', '"name": "j", "name": "k"')
    assert _error(text).startswith('metadata.name: duplicate key at line 1: mapping key "name"')


def test_same_key_in_sibling_mappings_and_merge_keys_are_fine():
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: ok
          labels: &labels {app: web, tier: front}
          annotations:
            <<: *labels
            app: overridden
        spec:
          containers:
          - {name: a, image: busybox, env: [{name: X, value: "1"}]}
          - {name: b, image: busybox, env: [{name: X, value: "1"}]}
        """)
    pod = load_manifests(text)[0]
    assert pod.metadata.annotations == {"app": "overridden", "tier": "front"}
    assert [c.env[0].name for c in pod.spec.containers] == ["X", "X"]


BOMB = "".join(
    ['apiVersion: v1\nkind: Pod\nmetadata:\n  name: bomb\n  annotations:\n',
     '    l1: &l1 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    + [f"    l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(2, 10)]
    + ["spec:\n  containers: [{name: c, image: busybox}]\n"]
)


def test_alias_bomb_is_refused():
    # 9**9 "lol"s once expanded. Run in a child so that a regression hangs a subprocess with a
    # generous bound, not the test run; no duration is asserted.
    code = ("import sys\nfrom pyrunc.errors import SpecError\nfrom pyrunc.spec import load_manifests\n"
            "try:\n    load_manifests(sys.stdin.read(), 'bomb.yaml')\nexcept SpecError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], input=BOMB, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "document contains excessive aliasing" in proc.stdout
    assert proc.stdout.startswith("metadata.annotations.l")


def test_modest_alias_reuse_is_accepted():
    text = POD.replace("    securityContext:\n      runAsUser: 1000\n",
                       "    env: &env [{name: A, value: a}, {name: B, value: b}]\n"
                       "  - {name: d, image: busybox, env: *env}\n")
    pod = load_manifests(text)[0]
    assert [e.name for e in pod.spec.containers[1].env] == ["A", "B"]


def test_recursive_alias_is_refused():
    assert _error(POD + "  x: &x [*x]\n").startswith("spec.x[0]: recursive alias at line 11")


def test_nesting_depth_is_capped():
    deep = "metadata:\n  annotations:\n    a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    message = _error(deep)
    assert "nesting deeper than 100 levels" in message and message.startswith("metadata.annotations.a[0][0]")
    # One level less is not a depth error (it is a type error of the annotation instead).
    shallow = "metadata:\n  annotations:\n    a: " + "[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3) + "\n"
    with pytest.raises(SpecError) as e:
        load_manifests(shallow)
    assert "metadata.annotations.a: expected string, got array" in str(e.value) and "nesting" not in str(e.value)


def test_input_over_3_mib_is_refused_before_parsing():
    # Unparseable filler: the size check must come first, or the error would be a YAML one.
    text = POD + "#" * 10 + "\n" + "][" * (MAX_MANIFEST_BYTES // 2)
    assert _error(text) == ("error parsing pod.yaml: the manifest is larger than 3145728 bytes "
                            "(3 MiB, the API server's request limit)")
    # Multi-byte characters count as bytes, as the API server counts them.
    padded = POD + "# " + "é" * ((MAX_MANIFEST_BYTES - len(POD)) // 2) + "\n"
    assert len(padded) < MAX_MANIFEST_BYTES < len(padded.encode())
    assert "larger than" in _error(padded)


def test_input_just_under_the_limit_loads():
    padded = POD + "#" + "x" * (MAX_MANIFEST_BYTES - len(POD) - 2) + "\n"
    assert len(padded.encode()) == MAX_MANIFEST_BYTES
    assert load_manifests(padded)[0].metadata.name == "strict"


def test_a_backslash_quote_in_a_double_quoted_string_reads_as_kubectl_reads_it():
    # go-yaml (kubectl) takes \' in a double-quoted scalar as a quote; PyYAML alone would refuse it.
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          containers:
          - name: c
            image: busybox
            command: ["sh", "-c", "echo \\'hi\\' \\"there\\""]
            args: ['a \\ b']
        """)
    (pod,) = load_manifests(text)
    assert pod.spec.containers[0].command == ("sh", "-c", "echo 'hi' \"there\"")
    assert pod.spec.containers[0].args == ("a \\ b",)  # single quotes know no escapes, as everywhere


def test_duplicate_keys_are_still_refused_when_backslash_quotes_are_read():
    with pytest.raises(SpecError, match="already defined"):
        load_manifests('apiVersion: v1\nkind: Pod\nkind: Pod\nmetadata: {name: "w\\\'b"}\n')
