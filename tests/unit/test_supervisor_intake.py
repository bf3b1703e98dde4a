"""apply's checks (supervisor/intake.py), as the supervisor answers a "check" request."""

from __future__ import annotations

import pytest

from pyrunc.config import NodeConfig
from pyrunc.errors import PyruncError, SpecError
from pyrunc.spec.load import load_objects, pod_to_dict
from pyrunc.supervisor.intake import check_reply, check_texts

CFG = NodeConfig(root="/r", node_name="vm")
POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{extra}  containers:\n  - name: a\n    image: busybox\n"


def test_pods_come_back_in_their_v1_form_with_warnings() -> None:
    text = POD.format(name="one", extra="  priorityClassName: nosuch\n") + "---\n" + POD.format(name="two", extra="")
    reply = check_reply(CFG, [("f.yaml", text)])
    pods, _ = load_objects(text, "f.yaml")
    assert reply["pods"] == [pod_to_dict(p) for p in pods]
    assert reply["refused"] == ""
    assert len(reply["warnings"]) == 1 and reply["warnings"][0].startswith("spec.priorityClassName")


def test_a_pod_of_another_node_is_refused_after_its_warnings() -> None:
    reply = check_reply(CFG, [("f.yaml", POD.format(name="far", extra="  nodeName: other\n  priorityClassName: x\n"))])
    assert reply["refused"].startswith('pod "far": spec.nodeName: Invalid value: "other"')
    assert reply["warnings"]


def test_objects_are_left_to_the_cli() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {a: b}\n---\n" + POD.format(name="p", extra="")
    assert check_reply(CFG, [("f.yaml", text)]) == {"ok": True, "objects": True}


def test_every_file_is_parsed_and_checked_in_order() -> None:
    with pytest.raises(SpecError) as e:
        check_texts(CFG, [("a.yaml", POD.format(name="Bad_Name", extra="")), ("b.yaml", "kind: Pod\nmetadata: [\n")])
    assert e.value.source == "a.yaml"  # a file's errors before the next file is parsed, as `-f` always read
    with pytest.raises(SpecError) as e:
        check_texts(CFG, [("a.yaml", POD.format(name="ok", extra="")), ("b.yaml", "kind: Pod\nmetadata: [\n")])
    assert "error parsing b.yaml" in str(e.value)
    with pytest.raises(PyruncError, match="no objects passed to apply"):
        check_texts(CFG, [("a.yaml", "---\n"), ("b.yaml", "")])
