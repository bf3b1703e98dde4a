"""The Vagrantfile: a Debian 12 VM provisioned by `make setup`, with pyrunc.service and a static pod;
and the systemd unit it installs (contrib/pyrunc.service)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VAGRANTFILE = REPO / "Vagrantfile"
UNIT = REPO / "contrib" / "pyrunc.service"


def code_lines() -> list[str]:
    """The Vagrantfile without comments (a `# make setup` comment must not satisfy a test)."""
    lines = VAGRANTFILE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if not line.lstrip().startswith("#")]


def provision_blocks(lines: list[str]) -> list[str]:
    """Each `config.vm.provision` step: text from its line to the next `config.` line, in order."""
    blocks = []
    for i, line in enumerate(lines):
        if "config.vm.provision" in line:
            rest = [line]
            for nxt in lines[i + 1 :]:
                if re.match(r"\s*(config\.|end\b)", nxt):
                    break
                rest.append(nxt)
            blocks.append("\n".join(rest))
    return blocks


def provision_block(lines: list[str]) -> str:
    """The first provision step."""
    blocks = provision_blocks(lines)
    return blocks[0] if blocks else ""


def test_provision_runs_make_setup_in_the_synced_repo() -> None:
    block = provision_block(code_lines())
    assert block, "no config.vm.provision step"
    assert re.search(r"cd /vagrant\s*&&\s*make setup\b", block), block


def test_the_lab_runs_pyrunc_service_with_a_static_pod() -> None:
    blocks = provision_blocks(code_lines())
    assert len(blocks) >= 2, blocks
    service = blocks[1]  # after `make setup`
    assert re.search(r"cd /vagrant\s*&&\s*make install-service\b", service), service
    assert re.search(r"examples/hello\.yaml\s+/etc/pyrunc/manifests/hello\.yaml", service), service
    assert "hello-pyrunc" in "\n".join(code_lines())  # the post-up message names the static pod
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^install-service: setup\n\tbash scripts/install-service\.sh$", makefile, re.M)
    script = (REPO / "scripts" / "install-service.sh").read_text(encoding="utf-8")
    assert "contrib/pyrunc.service /etc/systemd/system/pyrunc.service" in script
    assert "install -d -m 0755 /etc/pyrunc/manifests" in script


def unit_settings() -> dict[str, dict[str, list[str]]]:
    """The unit file as section -> key -> values (a key may repeat), comments left out."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_the_unit_runs_the_daemon_with_the_manifest_path_and_leaves_containers_on_stop() -> None:
    unit = unit_settings()
    service = unit["Service"]
    assert service["ExecStart"] == ["/usr/local/bin/pyrunc daemon --pod-manifest-path /etc/pyrunc/manifests"]
    assert service["KillMode"] == ["process"]  # stopping the unit stops the daemon, not the containers
    assert service["Delegate"] == ["yes"]
    assert service["Restart"] == ["always"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at a stand-in (the real one is made by `make setup`).
    program = tmp_path / "pyrunc"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    unit = tmp_path / "pyrunc.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/usr/local/bin/pyrunc", str(program)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    # A setting systemd cannot parse is only a warning ("ignoring"): any word about the unit is a failure.
    assert result.returncode == 0 and str(unit) not in result.stdout + result.stderr, result.stdout + result.stderr


def test_box_resources_and_sync() -> None:
    text = "\n".join(code_lines())
    assert re.search(r'config\.vm\.box\s*=\s*"debian/bookworm64"', text)
    assert re.search(r'synced_folder\s+"\.",\s*"/vagrant"', text)
    for provider in ("libvirt", "virtualbox"):
        match = re.search(rf'provider\s+"{provider}"\s+do\s+\|(\w+)\|(.*?)\n\s*end', text, re.S)
        assert match, provider
        body = match.group(2)
        assert re.search(r"\.cpus\s*=\s*2\b", body) and re.search(r"\.memory\s*=\s*2048\b", body), provider


def test_tells_the_user_how_to_run_the_demo() -> None:
    text = "\n".join(code_lines())
    assert "post_up_message" in text
    assert "vagrant ssh -c 'cd /vagrant && sudo make demo'" in text


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed (apt-get install vagrant)")
def test_vagrant_validate(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VAGRANT_CWD": str(REPO),
        "VAGRANT_HOME": str(tmp_path / "home"),  # keep the user's ~/.vagrant.d out of it
        "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"),  # and .vagrant/ out of the repo
        "VAGRANT_CHECKPOINT_DISABLE": "1",
    }
    result = subprocess.run(
        ["vagrant", "validate", "--ignore-provider"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
