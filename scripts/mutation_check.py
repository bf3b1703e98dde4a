#!/usr/bin/env python3
"""Break each critical rule once and check that a unit test notices.

Each mutation is a one-line change to a copy of the tree (the working tree is never edited): the
named unit tests run against the copy and must fail. A mutation they survive is a rule no test
guards. Root-free and quick (unit tests only); run it after changing a rule or its tests:

    .venv/bin/python scripts/mutation_check.py            # all mutations
    .venv/bin/python scripts/mutation_check.py qos oom    # those whose name contains a word

Exit status: 0 all caught, 1 some missed, 2 the check itself could not run (a snippet no longer
in its file, or the named tests failing before any mutation).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNIT = "tests/unit"


@dataclass(frozen=True)
class Mutation:
    name: str  # the rule, as a reader would name it
    file: str  # relative to the repository
    original: str  # an exact snippet, found exactly once in the file
    mutated: str
    tests: tuple[str, ...]  # pytest arguments (files or node ids) under tests/unit


BACKOFF_TESTS = (f"{UNIT}/test_backoff.py", f"{UNIT}/test_worker_plan.py")
PLAN_TESTS = (f"{UNIT}/test_worker_plan.py",)

MUTATIONS: tuple[Mutation, ...] = (
    # QoS (pkg/apis/core/v1/helper/qos): Guaranteed needs requests = limits for cpu AND memory.
    Mutation("qos: requests = limits for cpu only", "pyrunc/cgroups/plan.py",
             "    if guaranteed and requests == limits:",
             '    if guaranteed and requests["cpu"] == limits["cpu"]:',
             (f"{UNIT}/test_cgroups_plan.py",)),
    Mutation("qos: a container without limits", "pyrunc/cgroups/plan.py",
             "            if not _positive(lim):",
             "            if lim is None:",
             (f"{UNIT}/test_cgroups_plan.py",)),
    # Names that become path components are matched whole (a valid prefix is not a valid name).
    Mutation("name anchor: DNS label", "pyrunc/spec/names.py",
             "    if not _LABEL.fullmatch(value):",
             "    if not _LABEL.match(value):",
             (f"{UNIT}/test_spec_validation.py",)),
    Mutation("name anchor: DNS subdomain", "pyrunc/spec/names.py",
             "    if not _SUBDOMAIN.fullmatch(value):",
             "    if not _SUBDOMAIN.match(value):",
             (f"{UNIT}/test_spec_validation.py",)),
    Mutation("name anchor: pod directory name", "pyrunc/store/layout.py",
             "    return dns1123_subdomain(name) is None",
             "    return dns1123_subdomain(name.split('/')[0]) is None",
             (f"{UNIT}/test_names_at_the_door.py",)),
    Mutation("path inside a volume: '..' only at the start", "pyrunc/spec/names.py",
             '    if ".." in value.split("/"):',
             '    if value.split("/")[0] == "..":',
             (f"{UNIT}/test_spec_validation.py",)),
    # $(VAR): the kubelet expands from the container's own env, never the image's ENV.
    Mutation("$(VAR) in env reads the image's env", "pyrunc/runtime/config.py",
             "    return with_image_env(image_env, container_env(env_vars, field_value))",
             "    return with_image_env(image_env, container_env([__import__('types').SimpleNamespace("
             "name=i.partition('=')[0], value=i.partition('=')[2], value_from=None) for i in image_env]"
             " + list(env_vars), field_value))",
             (f"{UNIT}/test_cli_runtime_rules.py",)),
    Mutation("$(VAR) in command/args reads the image's env", "pyrunc/runtime/config.py",
             "    argv = resolve_command(container.command, container.args, image.entrypoint, image.cmd, own_env)",
             "    argv = resolve_command(container.command, container.args, image.entrypoint, image.cmd, dict(env))",
             (f"{UNIT}/test_cli_runtime_rules.py",)),
    Mutation("$(VAR) reads variables defined later", "pyrunc/runtime/config.py",
             "    return defined\n",
             "    return {k: expand(v, defined.get) for k, v in defined.items()}\n",
             (f"{UNIT}/test_cli_runtime_rules.py",)),
    # Pod phase (kubelet getPhase): a failed init container fails the pod only under Never.
    Mutation("init phase: OnFailure fails the pod", "pyrunc/status.py",
             '        if term and policy == "Never":',
             '        if term and policy != "Always":',
             (f"{UNIT}/test_cli_runtime_rules.py",)),
    # oom_score_adj (pkg/kubelet/qos/policy.go): Burstable in [1000 + (-997), 999].
    Mutation("oom_score_adj: Burstable floor 2", "pyrunc/cgroups/convert.py",
             "    lowest = 1000 + GUARANTEED_OOM_SCORE_ADJ",
             "    lowest = 999 + GUARANTEED_OOM_SCORE_ADJ",
             (f"{UNIT}/test_cgroups_convert.py",)),
    Mutation("oom_score_adj: 1000 kept (ties BestEffort)", "pyrunc/cgroups/convert.py",
             "    if adj == BESTEFFORT_OOM_SCORE_ADJ:",
             "    if adj > BESTEFFORT_OOM_SCORE_ADJ:",
             (f"{UNIT}/test_cgroups_convert.py",)),
    # Back-off (kubelet: 10 s doubling to 300 s, reset after 10 minutes): whichever unit test holds it.
    Mutation("back-off: doubling", "pyrunc/worker/backoff.py",
             "self.initial * 2.0 ** (failures - 2)",
             "self.initial * (failures - 1)",
             BACKOFF_TESTS),
    Mutation("back-off: 300 s cap", "pyrunc/worker/backoff.py",
             "return min(self.max_delay, self.initial * 2.0 ** (failures - 2))",
             "return self.initial * 2.0 ** (failures - 2)",
             BACKOFF_TESTS),
    Mutation("back-off: reset after 10 minutes", "pyrunc/worker/backoff.py",
             "return 1 if ran_for >= self.reset_after else previous_failures + 1",
             "return 1 if ran_for >= 2 * self.reset_after else previous_failures + 1",
             BACKOFF_TESTS),
    Mutation("back-off: reset boundary (>= to >)", "pyrunc/worker/backoff.py",
             "return 1 if ran_for >= self.reset_after else previous_failures + 1",
             "return 1 if ran_for > self.reset_after else previous_failures + 1",
             BACKOFF_TESTS),
    # The pod worker's plan (kubelet computePodActions): a few of its rules; its tests break each one.
    Mutation("plan: init containers of an Always pod restart OnFailure", "pyrunc/worker/plan.py",
             '        return "OnFailure"  # an init container is only ever run again to make it succeed',
             '        return "Always"',
             PLAN_TESTS),
    Mutation("plan: the next init container waits for a sidecar to have started", "pyrunc/worker/plan.py",
             "    return _alive(c) and c.facts.started and c.facts.post_start is not HookState.RUNNING",
             "    return _alive(c) and c.facts.post_start is not HookState.RUNNING",
             PLAN_TESTS),
    Mutation("plan: sidecars stop after the main containers", "pyrunc/worker/plan.py",
             "        mains = [c for c in alive if c.kind is not Kind.SIDECAR]",
             "        mains = list(alive)",
             PLAN_TESTS),
    Mutation("plan: sidecars stop last one first", "pyrunc/worker/plan.py",
             "            stop(alive[-1], remaining)",
             "            stop(alive[0], remaining)",
             PLAN_TESTS),
    Mutation("plan: a restart waits for its back-off", "pyrunc/worker/plan.py",
             "            if plan.due(at):",
             "            if True:",
             PLAN_TESTS),
)

_IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache",
                                  "build", "*.egg-info", ".vagrant")
_FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - |$)", re.MULTILINE)


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The copy's package must shadow the installed (editable) one: PYTHONPATH comes before the
    # site-packages .pth entry. No .pyc files: a restored file may keep its size and mtime second.
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _pytest(tree: Path, tests: tuple[str, ...]) -> tuple[bool, list[str]]:
    """(passed, failing test ids) of the named tests in the copy."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "--no-header", *tests]
    try:
        run = subprocess.run(cmd, cwd=tree, env=_env(tree), capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return False, ["(timed out)"]
    return run.returncode == 0, _FAILED.findall(run.stdout)


def _check_copy_is_imported(tree: Path) -> None:
    probe = subprocess.run([sys.executable, "-c", "import pyrunc; print(pyrunc.__file__)"], cwd=tree,
                           env=_env(tree), capture_output=True, text=True, check=True)
    if not Path(probe.stdout.strip()).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"error: the copy's pyrunc is not the one imported ({probe.stdout.strip()})")


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not argv or any(word in m.name for word in argv)]
    if not chosen:
        print(f"error: no mutation matches {' '.join(argv)}", file=sys.stderr)
        return 2
    for m in chosen:
        count = (ROOT / m.file).read_text(encoding="utf-8").count(m.original)
        if count != 1:
            print(f"error: {m.name}: the snippet is found {count} times in {m.file} (update MUTATIONS)",
                  file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="pyrunc-mutation-") as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(ROOT, tree, ignore=_IGNORED, symlinks=True)
        _check_copy_is_imported(tree)
        for tests in sorted({m.tests for m in chosen}):
            ok, failing = _pytest(tree, tests)
            if not ok:
                print(f"error: {' '.join(tests)} fail before any mutation: {' '.join(failing)}", file=sys.stderr)
                return 2
        missed = 0
        rows: list[tuple[str, str, str]] = []
        for m in chosen:
            path = tree / m.file
            original = path.read_text(encoding="utf-8")
            path.write_text(original.replace(m.original, m.mutated), encoding="utf-8")
            try:
                ok, failing = _pytest(tree, m.tests)
            finally:
                path.write_text(original, encoding="utf-8")
            if ok:
                missed += 1
                rows.append((m.name, "MISSED", f"{' '.join(m.tests)} pass with the rule broken"))
            else:
                more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
                rows.append((m.name, "caught", (failing[0] if failing else "(collection error)") + more))
    width = max(len(r[0]) for r in rows)
    for name, verdict, detail in rows:
        print(f"{name:<{width}}  {verdict:<6}  {detail}")
    print(f"{len(rows) - missed} caught, {missed} missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
