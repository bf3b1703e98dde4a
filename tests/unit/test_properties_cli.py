"""Property tests of the real `pyrunc apply` (issue 11 point 9, the CLI half): random documents and
mutations of the corpus (tests/corpus/) go through pyrunc.cli.main.main in process, with a temporary
--root. Whatever the input: exit 0 or 1, stderr made of `error:`/`hint:`/`Warning:` lines only (never a
traceback, never the catch-all for an unexpected exception), and when refused nothing reaches the
node: no request to the supervisor (stubbed here; the integration tests run the real one), and the
root, data and log directories stay empty. When accepted, each pod reaches the supervisor and only
the ConfigMaps and Secrets of the manifest are written by the CLI itself.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc.cli import main as cli
from tests.mutations import paths

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
DOCS = [doc for path in sorted(CORPUS.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Sent(Exception):
    """Not raised: the stub records requests instead of talking to a supervisor."""


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """A node root whose configuration puts data and logs under tmp_path; the supervisor stubbed."""
    from pyrunc.supervisor import client

    root = tmp_path / "root"
    root.mkdir()
    (root / "config.json").write_text(json.dumps({"data_dir": str(tmp_path / "data"),
                                                  "pod_logs_dir": str(tmp_path / "logs")}))
    sent: list[dict[str, Any]] = []

    def fake_request(cfg: Any, msg: dict[str, Any]) -> dict[str, Any]:
        sent.append(msg)
        return {"ok": True, "result": "created"}

    monkeypatch.setattr(client, "request", fake_request)
    yield root, sent


def _apply(root: Path, text: str, capsys: pytest.CaptureFixture[str], sent: list[dict[str, Any]]) -> None:
    before = sorted(os.listdir(root))
    manifest = root.parent / "manifest.yaml"
    manifest.write_text(text, encoding="utf-8", errors="surrogatepass")
    capsys.readouterr()
    sent.clear()
    code = cli.main(["--root", str(root), "apply", "-f", str(manifest)])
    out, err = capsys.readouterr()
    assert code in (0, 1), (code, err)
    assert "Traceback" not in err and "run with --debug" not in err, err
    lines = err.splitlines()
    assert all(line.startswith(("error: ", "hint: ", "Warning: ")) for line in lines), err
    if code == 1:
        assert [line for line in lines if line.startswith("error: ")], err
        assert sent == [], "a refused manifest reached the supervisor"
        assert out == ""
    else:
        # Every pod applied reached the supervisor; a manifest of ConfigMaps or Secrets alone reaches none.
        assert not [line for line in lines if line.startswith("error: ")], err
        assert len(sent) == len([line for line in out.splitlines() if line.startswith("pod/")]), (out, sent)
        assert out, err
    # The CLI itself writes nothing under the root (the supervisor would) besides the ConfigMaps and
    # Secrets an accepted manifest holds (<root>/objects, docs/configs.md); a refused one leaves nothing.
    after = sorted(os.listdir(root))
    assert after == before or (code == 0 and after == sorted({*before, "objects"})), after
    assert not (root.parent / "data").exists() and not (root.parent / "logs").exists()


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),  # any unicode, surrogates aside (YAML cannot carry them)
    st.sampled_from(["", "0", "-1", "1e999999", "9" * 400, "Always", "Never", "x" * 300, "../../etc", "/", "ALL",
                     "\u00e9t\u00e9", "\U0001F600", "SIGKILL", "RuntimeDefault", "windows", "hugepages-2Mi"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=3)),
                      max_leaves=10)


def _deep(depth: int) -> Any:
    node: Any = "leaf"
    for i in range(depth):
        node = [node] if i % 2 else {"k": node}
    return node


@st.composite
def mutated(draw: Any) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths(doc)))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add", "deep", "huge"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=15))] = draw(values)
        elif action == "deep":
            parent[path[-1]] = _deep(draw(st.integers(20, 160)))
        elif action == "huge":
            parent[path[-1]] = draw(st.sampled_from([2**64, -2**63 - 1, 10**40, "9" * 5000, "a" * 70000, [0] * 3000]))
        else:
            parent[path[-1]] = draw(values)
    return doc


def _dump(doc: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(doc, ensure_ascii=False)
    return yaml.safe_dump(doc, allow_unicode=True)


@SETTINGS
@given(doc=mutated(), as_json=st.booleans())
def test_a_mutated_corpus_manifest_is_applied_or_refused_cleanly(
        sandbox: tuple[Path, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str], doc: Any, as_json: bool) -> None:
    root, sent = sandbox
    _apply(root, _dump(doc, as_json), capsys, sent)


@SETTINGS
@given(doc=values)
def test_a_random_document_is_refused_cleanly(
        sandbox: tuple[Path, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str], doc: Any) -> None:
    root, sent = sandbox
    _apply(root, _dump(doc, False), capsys, sent)


@SETTINGS
@given(text=st.text(max_size=300))
def test_random_text_is_refused_cleanly(
        sandbox: tuple[Path, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str], text: str) -> None:
    root, sent = sandbox
    _apply(root, text, capsys, sent)


def test_the_unmutated_corpus_goes_through_the_same_checks(
        sandbox: tuple[Path, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]) -> None:
    """The oracle above holds for the corpus itself: what it accepts reaches the supervisor."""
    root, sent = sandbox
    for path in sorted(CORPUS.glob("*.yaml")):
        _apply(root, path.read_text(), capsys, sent)
    _apply(root, (CORPUS / "web-full.yaml").read_text(), capsys, sent)
    assert sent and sent[0]["op"] == "apply"
