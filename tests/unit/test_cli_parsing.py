"""Pure parts of the CLI: global flags, targets, grace periods, wait's jsonpath, logs rendering."""

from __future__ import annotations

import argparse

import pytest

from pyrunc.cli.common import parse_targets
from pyrunc.cli.delete_cmd import grace_of
from pyrunc.cli.logs_cmd import render, tail_lines
from pyrunc.cli.main import ArgumentError, split_globals
from pyrunc.cli.wait_cmd import check, jsonpath_get
from pyrunc.errors import PyruncError


@pytest.mark.parametrize("argv, root, debug, rest", [
    (["get", "pods"], None, False, ["get", "pods"]),
    (["--root", "/r", "get", "pods"], "/r", False, ["get", "pods"]),
    (["get", "--root=/r", "pods", "--debug"], "/r", True, ["get", "pods"]),
    (["exec", "p", "--", "sh", "--root", "x", "--debug"], None, False, ["exec", "p", "--", "sh", "--root", "x", "--debug"]),
])
def test_split_globals(argv: list[str], root: str | None, debug: bool, rest: list[str]) -> None:
    opts, words = split_globals(argv)
    assert opts == {"root": root, "debug": debug}
    assert words == rest


def test_split_globals_root_needs_a_value() -> None:
    with pytest.raises(ArgumentError, match="--root"):
        split_globals(["get", "--root"])


@pytest.mark.parametrize("words, names", [
    (["pods"], []),
    (["pod", "a", "b"], ["a", "b"]),
    (["po", "a"], ["a"]),
    (["pod/a", "pods/b"], ["a", "b"]),
])
def test_parse_targets(words: list[str], names: list[str]) -> None:
    assert parse_targets(words) == names


@pytest.mark.parametrize("words", [["services"], ["svc/a"], ["pod/a", "deploy/b"]])
def test_parse_targets_unknown_kind(words: list[str]) -> None:
    with pytest.raises(PyruncError, match="doesn't have a resource type"):
        parse_targets(words)


def ns(**kw: object) -> argparse.Namespace:
    base = {"now": False, "grace_period": -1, "force": False}
    return argparse.Namespace(**(base | kw))


@pytest.mark.parametrize("args, grace", [
    (ns(), None),                                # the pod's terminationGracePeriodSeconds
    (ns(grace_period=5), 5),
    (ns(grace_period=0), 1),                     # kubectl: 0 without --force means 1
    (ns(grace_period=0, force=True), 0),
    (ns(now=True), 1),
    (ns(now=True, grace_period=7), 1),
])
def test_grace_of(args: argparse.Namespace, grace: int | None) -> None:
    assert grace_of(args) == grace


POD = {
    "metadata": {"name": "p"},
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "False"}],
        "containerStatuses": [{"name": "a", "restartCount": 2}],
    },
}


@pytest.mark.parametrize("path, value", [
    ("{.status.phase}", "Running"),
    (".status.phase", "Running"),
    ("{.status.containerStatuses[0].restartCount}", 2),
    ("{.status.containerStatuses[1].name}", None),
    ('{.status.conditions[?(@.type=="Initialized")].status}', "False"),
    ("{.status.conditions[?(@.type=='Ready')].status}", "True"),
    ("{.status.nothing.deeper}", None),
])
def test_jsonpath_get(path: str, value: object) -> None:
    assert jsonpath_get(POD, path) == value


@pytest.mark.parametrize("cond, ok", [
    ("condition=Ready", True),
    ("condition=ready", True),
    ("condition=Initialized", False),
    ("condition=Initialized=False", True),
    ("condition=PodScheduled", False),
    ("jsonpath={.status.phase}=Running", True),
    ("jsonpath={.status.phase}=Succeeded", False),
    ("jsonpath={.status.phase}", True),
    ("delete", False),
])
def test_check(cond: str, ok: bool) -> None:
    assert check(POD, cond) is ok


def test_check_quoted_jsonpath_compares_the_value() -> None:
    """Without a shell (subprocess argv, CI YAML), the kubectl docs' quotes arrive literally."""
    assert check(POD, "jsonpath='{.status.phase}'=Running") is True
    assert check(POD, "jsonpath='{.status.phase}'=Succeeded") is False


def test_check_missing_pod() -> None:
    assert check(None, "delete") is True
    assert check(None, "condition=Ready") is False


def test_check_unknown_condition() -> None:
    with pytest.raises(PyruncError, match="unrecognized condition"):
        check(POD, "ready")


LOG = (b"2026-11-22T00:11:30.123456789Z stdout F hello\n"
       b"2026-11-22T00:11:30.223456789Z stderr F oops\n"
       b"2026-11-22T00:11:31.000000001Z stdout P par\n"
       b"2026-11-22T00:11:31.000000002Z stdout F tial\n")


def test_render_plain_and_partial_lines_joined() -> None:
    assert render(LOG, timestamps=False) == b"hello\noops\npartial\n"


def test_render_timestamps() -> None:
    out = render(LOG, timestamps=True).split(b"\n")
    assert out[0] == b"2026-11-22T00:11:30.123456789Z hello"
    assert out[1] == b"2026-11-22T00:11:30.223456789Z oops"


@pytest.mark.parametrize("n, out", [
    (-1, b"a\nb\nc\n"),
    (0, b""),
    (1, b"c\n"),
    (2, b"b\nc\n"),
    (10, b"a\nb\nc\n"),
])
def test_tail_lines(n: int, out: bytes) -> None:
    assert tail_lines(b"a\nb\nc\n", n) == out


def test_tail_lines_without_final_newline() -> None:
    assert tail_lines(b"a\nb", 1) == b"b\n"


def test_apply_reads_a_directory_of_manifests_in_name_order(tmp_path) -> None:  # noqa: ANN001
    from pyrunc.cli.common import manifest_files

    for name in ("b.yaml", "a.json", "c.yml", "notes.txt", ".hidden.yaml"):
        (tmp_path / name).write_text("")
    assert [p.rsplit("/", 1)[1] for p in manifest_files(str(tmp_path))] == ["a.json", "b.yaml", "c.yml"]
    assert manifest_files("-") == ["-"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PyruncError, match="no manifest files"):
        manifest_files(str(empty))


def test_delete_all_picks_every_pod_of_the_namespace(tmp_path) -> None:  # noqa: ANN001
    from pyrunc.cli.delete_cmd import add_arguments, targets

    for key in ("default_a", "default_b", "other_c", "Bad_key"):
        (tmp_path / "pods" / key).mkdir(parents=True)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert targets(parser.parse_args(["pods", "--all"]), str(tmp_path)) == [("default", "a"), ("default", "b")]
    assert targets(parser.parse_args(["pods", "--all", "-n", "other"]), str(tmp_path)) == [("other", "c")]


def test_verbs_that_make_pods_refuse_without_root(monkeypatch, capsys) -> None:  # noqa: ANN001
    from pyrunc.cli.main import main

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["apply", "-f", "pod.yaml"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: pyrunc apply needs root: namespaces, mounts and cgroups are root's to make"


def test_help_lists_every_visible_verb_and_no_hidden_one(capsys: "pytest.CaptureFixture[str]") -> None:
    from pyrunc.cli.main import VERBS, main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "SUPPRESS" not in out and "daemon" not in out
    for verb, text in VERBS.items():
        if verb != "daemon":
            assert f"{verb} " in out and text in out.replace("\n", " ") or verb in out


def test_completion_script_knows_every_visible_verb() -> None:
    from pyrunc.cli.completion_cmd import bash_script
    from pyrunc.cli.main import VERBS

    script = bash_script()
    for verb, text in VERBS.items():
        if text != argparse.SUPPRESS:
            assert verb in script


def test_readme_cli_table_lists_every_verb() -> None:
    from pathlib import Path

    from pyrunc.cli.main import VERBS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `pyrunc ")]
    for verb in VERBS:
        assert any(line.startswith(f"| `pyrunc {verb}") for line in table), verb
