"""The tree speaks only of itself: no tracked file names a path of a developer's machine or a document
that lives outside the repository. A clone must read the same on any machine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Built from pieces so that this file does not match itself.
FORBIDDEN = [
    ("a developer's work tree", re.compile(re.escape("/" + "work/"))),
    ("the shared notes beside the repository", re.compile(re.escape(".." + "/shared"))),
    ("a document outside the repository", re.compile(r"\b(?:" + "KUBELET|STYLE|PEERS" + r")\.md\b")),
    # A path inside someone's home directory or root's (not a process's root under /proc, not a passwd line).
    ("a home directory", re.compile(r"(?<![\w}\]*.-])/(?:" + "home" + r"/[a-z_][a-z0-9_.-]*/|" + "root" + r"/)")),
    ("a macOS home directory", re.compile(r"/" + "Users" + r"/[^/\s]+/")),
]


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (an unpacked source tree): nothing to list")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_names_a_machine_or_an_outside_document() -> None:
    files = tracked_files()
    assert files, "git ls-files listed nothing"
    found = []
    for path in files:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):  # deleted in the work tree, or a submodule
            continue
        if b"\0" in data:
            continue  # binary
        text = data.decode("utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            for what, pattern in FORBIDDEN:
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{lineno}: {what}: {line.strip()[:120]}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("line", "bad"), [
    ("see /" + "work/main/README.md", True),
    ("cp -r .." + "/shared/qemu x", True),
    ("the kubelet (" + "KUBELET" + ".md, section 3)", True),
    ("cd /" + "home/alice/src/pyrunc", True),
    ("/" + "root/pyrunc/.venv/bin/python", True),
    ("/" + "Users/bob/code", True),
    ('os.stat(f"/proc/{pid}/root/dev")', False),
    ("find /proc/[0-9]*/root/ -maxdepth 1", False),
    ("app:x:1000:1000:App:/home/app:/bin/sh", False),
    ("workingDir: /srv/dir", False),
    ("kubelet pkg/kubelet/kuberuntime/kuberuntime_container.go", False),
])
def test_the_patterns(line: str, bad: bool) -> None:
    assert any(p.search(line) for _, p in FORBIDDEN) == bad
