"""The verbs share helpers through pyrunc/cli/common.py and view.py; no verb imports another verb."""

from __future__ import annotations

import ast
from pathlib import Path

import pyrunc.cli

CLI = Path(pyrunc.cli.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_verb_imports_another_verb() -> None:
    verbs = sorted(CLI.glob("*_cmd.py"))
    assert len(verbs) >= 10
    for verb in verbs:
        others = {m for m in imported_modules(verb) if m.startswith("pyrunc.cli.") and m.endswith("_cmd")}
        assert not others, f"{verb.name} imports {sorted(others)}"
