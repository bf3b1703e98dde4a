"""The Vagrantfile: a Debian 12 VM provisioned by `make setup`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VAGRANTFILE = REPO / "Vagrantfile"


def code_lines() -> list[str]:
    """The Vagrantfile without comments (a `# make setup` comment must not satisfy a test)."""
    lines = VAGRANTFILE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if not line.lstrip().startswith("#")]


def provision_block(lines: list[str]) -> str:
    """Text from the first `config.vm.provision` line to the next `config.` line."""
    for i, line in enumerate(lines):
        if "config.vm.provision" in line:
            rest = [line]
            for nxt in lines[i + 1 :]:
                if re.match(r"\s*(config\.|end\b)", nxt):
                    break
                rest.append(nxt)
            return "\n".join(rest)
    return ""


def test_provision_runs_make_setup_in_the_synced_repo() -> None:
    block = provision_block(code_lines())
    assert block, "no config.vm.provision step"
    assert re.search(r"cd /vagrant\s*&&\s*make setup\b", block), block


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
