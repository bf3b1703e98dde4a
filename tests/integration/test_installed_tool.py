"""pyrunc installed like a tool: `pip install .` outside the checkout, and `make setup`'s PATH link.

The wheel is built from a copy of the package's sources (so the build writes nothing into the
checkout), offline (`--no-index --no-build-isolation`, with setuptools and wheel from the test
virtualenv), and installed into a fresh virtualenv in a temp dir without its dependencies (`--no-deps`);
the dependencies come from the project's virtualenv through one .pth path line, which adds that
directory only (the editable checkout's own .pth in it is not processed), so the checkout is never on
sys.path. Every command then runs with the temp dir as its working directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.integration.helpers import IMAGES, REPO, Node, node, poll  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _sources(dest: Path) -> Path:
    """The files `pip install .` reads: pyproject.toml, README.md and the package, caches left out."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "pyrunc", dest / "pyrunc", symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ directory of a fresh virtualenv with pyrunc installed from a wheel."""
    base = tmp_path_factory.mktemp("installed")
    src = _sources(base / "src")
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                    "-w", str(wheels), str(src)], check=True, capture_output=True, cwd=str(base))
    (wheel,) = wheels.glob("pyrunc-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)], check=True,
                   capture_output=True, cwd=str(base))
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_pyrunc_test_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    return venv / "bin"


def _run(bin_dir: Path, *args: str, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(bin_dir / "pyrunc"), *args], capture_output=True, text=True, cwd=str(bin_dir.parent),
                          env={**os.environ, **(env or {})}, timeout=120)
    if check:
        assert proc.returncode == 0, f"pyrunc {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def test_the_installed_package_is_complete_and_reads_nothing_of_the_checkout(installed: Path) -> None:
    py = installed / "python"
    probe = subprocess.run([str(py), "-c", "import json, sys, pyrunc; print(json.dumps([pyrunc.__file__, sys.path]))"],
                           check=True, capture_output=True, text=True, cwd=str(installed.parent))
    package_file, path = json.loads(probe.stdout)
    package = Path(package_file).parent
    assert package.is_relative_to(installed.parent), package_file
    assert not any(p and Path(p).resolve().is_relative_to(REPO) and not Path(p).resolve().is_relative_to(REPO / ".venv")
                   for p in path), path
    # Every file of the package (modules and data: seccomp profile, the busybox recipe, py.typed) installed.
    wanted = {p.relative_to(REPO / "pyrunc") for p in (REPO / "pyrunc").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    have = {p.relative_to(package) for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert wanted - have == set()
    version = _run(installed, "version")
    assert version.stdout.strip()


def test_the_installed_pyrunc_builds_the_builtin_image_as_setup_does(installed: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {"PYRUNC_IMAGES": str(store)}
    _run(installed, "image", "import", "--builtin", env=env)
    image = json.loads(_run(installed, "image", "inspect", "busybox", env=env).stdout)
    assert image["repoTags"] == ["docker.io/library/busybox:latest"]
    assert image["config"]["Cmd"] == ["sh"]
    # Reproducible: the node's image, imported by `make setup` (scripts/builtin-image.sh), has the same id.
    node_image = subprocess.run([sys.executable, "-m", "pyrunc", "image", "inspect", "busybox"], capture_output=True,
                                text=True, env={**os.environ, "PYRUNC_IMAGES": str(IMAGES)})
    if node_image.returncode == 0:
        assert json.loads(node_image.stdout)["id"] == image["id"]
    # The layer it built (next to the store) imports as a plain root filesystem tarball too.
    tar = tmp_path / "builtin" / "busybox" / "rootfs.tar"
    assert tar.is_file()
    out = _run(installed, "image", "import", str(tar), "example.com/mine:v1", env=env).stdout
    assert "example.com/mine:v1" in out
    # A wrong use is one line.
    bad = _run(installed, "image", "import", "--builtin", str(tar), env=env, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("error: --builtin takes no FILE")


def test_the_installed_pyrunc_runs_a_pod(installed: Path, node: Node) -> None:  # noqa: F811
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: installed}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo from-an-installed-pyrunc"]}
"""
    node.pods.add(("default", "installed"))
    proc = subprocess.run([str(installed / "pyrunc"), "--root", node.root, "apply", "-f", "-"], input=manifest,
                          capture_output=True, text=True, cwd=str(installed.parent), timeout=120)
    assert proc.returncode == 0, proc.stderr
    poll("the pod Succeeded", lambda: _run(installed, "--root", node.root, "get", "pod", "installed", "-o",
                      "json").stdout.count('"Succeeded"') > 0)
    assert _run(installed, "--root", node.root, "logs", "installed").stdout == "from-an-installed-pyrunc\n"
    _run(installed, "--root", node.root, "delete", "pod", "installed")


def test_the_installed_pyrunc_execs_through_its_lean_entry_point(installed: Path, node: Node) -> None:  # noqa: F811
    """The console script pip wrote starts at cli/entry.py, which hands the exec to the supervisor."""
    assert "from pyrunc.cli.entry import main" in (installed / "pyrunc").read_text()
    node.pods.add(("default", "sleeper"))
    manifest = ("apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  containers:\n"
                "  - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}\n")
    proc = subprocess.run([str(installed / "pyrunc"), "--root", node.root, "apply", "-f", "-"], input=manifest,
                          capture_output=True, text=True, cwd=str(installed.parent), timeout=120)
    assert proc.returncode == 0, proc.stderr
    node.wait_running("sleeper")
    assert Path(node.root, "exec.sock").exists()
    done = _run(installed, "--root", node.root, "exec", "sleeper", "--", "sh", "-c", "echo in; exit 3", check=False)
    assert (done.returncode, done.stdout, done.stderr) == (3, "in\n", "")
    missing = _run(installed, "--root", node.root, "exec", "sleeper", "-c", "nope", "--", "true", check=False)
    assert (missing.returncode, missing.stderr) == (1, "error: container nope is not valid for pod sleeper\n")


def test_completion_scripts(installed: Path, node: Node) -> None:  # noqa: F811
    node.apply("""
apiVersion: v1
kind: Pod
metadata: {name: completed-name}
spec:
  containers:
  - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
""")
    script = _run(installed, "completion", "bash").stdout
    bin_dir = installed
    driver = f"""
source /dev/stdin <<'EOF'
{script}
EOF
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); COMPREPLY=(); __pyrunc_complete; echo "${{COMPREPLY[*]}}"; }}
t pyrunc de
t pyrunc --root {node.root} logs comp
t pyrunc --root {node.root} wait pod/comp
t pyrunc --root {node.root} get pods comp
t pyrunc image import --bu
t pyrunc apply --dry
"""
    out = subprocess.run(["bash", "-c", driver], capture_output=True, text=True, check=True,
                         env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}).stdout.splitlines()
    assert out[0].split() == ["describe", "delete"]
    assert out[1] == "completed-name"
    assert out[2] == "pod/completed-name"
    assert out[3] == "completed-name"
    assert out[4] == "--builtin"
    assert out[5] == "--dry-run"
    zsh = _run(installed, "completion", "zsh").stdout
    assert zsh.startswith("autoload -U +X bashcompinit && bashcompinit\n") and zsh.endswith(script)
    bad = _run(installed, "completion", "fish", check=False)
    assert bad.returncode == 1 and bad.stderr == 'error: unsupported shell type "fish" (bash or zsh)\n'


def test_link_tool_is_idempotent_and_replaces_a_link_elsewhere(tmp_path: Path) -> None:
    link = tmp_path / "bin" / "pyrunc"
    target, other = str(tmp_path / "a" / "pyrunc"), str(tmp_path / "b" / "pyrunc")

    def link_tool(to: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(REPO / "scripts" / "link-tool.sh"), to, str(link)], capture_output=True,
                              text=True, check=True)

    assert link_tool(target).stdout == "" and os.readlink(link) == target
    assert link_tool(target).stdout == "" and os.readlink(link) == target
    assert link_tool(other).stdout == f"replacing {link} -> {target} with -> {other}\n" and os.readlink(link) == other
    link.unlink()
    link.write_text("someone else's")
    result = link_tool(target)
    assert "not a link: left alone" in result.stderr and link.read_text() == "someone else's"


def test_the_launcher_setup_links_runs_every_path(node: Node, tmp_path: Path) -> None:  # noqa: F811
    """scripts/write-launcher.sh: Python without site (-IS); site comes back for whatever needs the virtualenv."""
    launcher = tmp_path / "bin" / "pyrunc"
    launcher.parent.mkdir()
    subprocess.run(["sh", str(REPO / "scripts" / "write-launcher.sh"), sys.executable, str(REPO), str(launcher)],
                   check=True)
    assert launcher.read_text().startswith(f"#!{sys.executable} -IS\n")

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(launcher), "--root", node.root, *args], input=stdin, capture_output=True, text=True,
                              cwd=str(tmp_path), env={**os.environ, **(env or {})}, timeout=120)

    assert run("version").stdout.startswith("pyrunc ")
    node.pods.add(("default", "launched"))
    manifest = ("apiVersion: v1\nkind: Pod\nmetadata: {name: launched}\nspec:\n  containers:\n"
                "  - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}\n")
    applied = run("apply", "-f", "-", stdin=manifest)  # yaml and the spec model: site was loaded for it
    assert applied.returncode == 0, applied.stderr
    node.wait_running("launched")
    for env in ({}, {"PYRUNC_EXEC_IN_PROCESS": "1"}):  # handed over; in process (pyseccomp from the virtualenv)
        done = run("exec", "launched", "--", "sh", "-c", "echo in; exit 3", env=env)
        assert (done.returncode, done.stdout, done.stderr) == (3, "in\n", ""), env
    assert run("get", "pods").stdout.split()[5:7] == ["launched", "1/1"]
    refused = subprocess.run(["sh", str(REPO / "scripts" / "write-launcher.sh"), sys.executable, "/it's", str(launcher)],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "cannot go into the launcher" in refused.stderr
