"""Host-wide claims of a root's bridge, pod subnet and nftables table (several roots on one host)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyrunc.errors import NetworkError
from pyrunc.network import claims
from pyrunc.network.model import NetConfig


def make_root(base: Path, name: str, pods: int = 0, daemon_pid: int | None = None) -> str:
    root = base / name
    (root / "pods").mkdir(parents=True)
    for i in range(pods):
        (root / "pods" / f"default_p{i}").mkdir()
    if daemon_pid is not None:
        with open(f"/proc/{daemon_pid}/stat", encoding="utf-8") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        (root / "daemon.json").write_text(json.dumps({"pid": daemon_pid, "startTime": start}))
    return str(root)


@pytest.fixture
def cdir(tmp_path: Path) -> str:
    return str(tmp_path / "claims")


def test_a_second_root_on_the_same_bridge_and_subnet_is_refused_naming_both_settings(tmp_path: Path, cdir: str) -> None:
    a = make_root(tmp_path, "a", pods=1)
    b = make_root(tmp_path, "b")
    claims.claim(NetConfig(root=a), cdir)
    with pytest.raises(NetworkError) as e:
        claims.claim(NetConfig(root=b), cdir)
    msg = e.value.message
    assert "\n" not in msg and f"root {a}" in msg
    assert f'set "bridge" and "pod_subnet" in {b}/config.json' in msg
    assert [c.root for c in claims.claims(cdir)] == [a]  # nothing of b's was written


@pytest.mark.parametrize(("bridge", "subnet", "named"), [
    ("pyrb", "10.66.0.0/16", '"pod_subnet"'),          # same subnet, own bridge
    ("pyrb", "10.66.7.0/24", '"pod_subnet"'),          # a subnet inside the other's
    ("pyrunc0", "10.67.0.0/16", '"bridge"'),           # same bridge, own subnet
    ("pyrunc.0", "10.67.0.0/16", '"bridge"'),          # another bridge whose nft table is the same
])
def test_each_shared_resource_is_named(tmp_path: Path, cdir: str, bridge: str, subnet: str, named: str) -> None:
    a = make_root(tmp_path, "a", pods=1)
    b = make_root(tmp_path, "b")
    claims.claim(NetConfig(root=a, bridge="pyrunc_0" if bridge == "pyrunc.0" else "pyrunc0"), cdir)
    with pytest.raises(NetworkError, match=f"set {named} in"):
        claims.claim(NetConfig(root=b, bridge=bridge, subnet=subnet), cdir)


def test_distinct_bridges_and_subnets_both_hold_claims(tmp_path: Path, cdir: str) -> None:
    a = make_root(tmp_path, "a", pods=1)
    b = make_root(tmp_path, "b", pods=1)
    claims.claim(NetConfig(root=a), cdir)
    claims.claim(NetConfig(root=b, bridge="pyrb", subnet="10.67.0.0/16"), cdir)
    claims.claim(NetConfig(root=a), cdir)  # idempotent for the owner
    assert sorted(c.root for c in claims.claims(cdir)) == [a, b]


def test_release_lets_another_root_take_the_network(tmp_path: Path, cdir: str) -> None:
    a = make_root(tmp_path, "a", pods=1)
    b = make_root(tmp_path, "b")
    claims.claim(NetConfig(root=a), cdir)
    claims.release(NetConfig(root=a), cdir)
    claims.claim(NetConfig(root=b), cdir)
    assert [c.root for c in claims.claims(cdir)] == [b]


def test_a_claim_of_a_removed_root_is_stale(tmp_path: Path, cdir: str) -> None:
    a = make_root(tmp_path, "a", pods=1)
    b = make_root(tmp_path, "b")
    claims.claim(NetConfig(root=a), cdir)
    os.rename(a, a + "-gone")
    claims.claim(NetConfig(root=b), cdir)
    assert [c.root for c in claims.claims(cdir)] == [b]


def test_a_root_with_a_running_supervisor_keeps_its_claim_without_pods(tmp_path: Path, cdir: str) -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as proc:
        try:
            a = make_root(tmp_path, "a", daemon_pid=proc.pid)
            b = make_root(tmp_path, "b")
            claims.claim(NetConfig(root=a), cdir)
            with pytest.raises(NetworkError):
                claims.claim(NetConfig(root=b), cdir)
        finally:
            proc.kill()
    # Its supervisor gone and no pod: the claim is stale.
    claims.claim(NetConfig(root=b), cdir)
    assert [c.root for c in claims.claims(cdir)] == [b]


def test_a_root_with_pods_but_no_supervisor_keeps_its_claim(tmp_path: Path, cdir: str) -> None:
    # Pods outlive a killed supervisor; they still use the bridge.
    a = make_root(tmp_path, "a", pods=2)
    b = make_root(tmp_path, "b")
    (Path(a) / "daemon.json").write_text(json.dumps({"pid": 2**22 + 7, "startTime": 1}))
    claims.claim(NetConfig(root=a), cdir)
    with pytest.raises(NetworkError):
        claims.claim(NetConfig(root=b), cdir)


def test_other_owner_is_the_live_root_sharing_the_network(tmp_path: Path, cdir: str) -> None:
    a = make_root(tmp_path, "a", pods=1)
    b = make_root(tmp_path, "b")
    claims.claim(NetConfig(root=a), cdir)
    owner = claims.other_owner(NetConfig(root=b), cdir)
    assert owner is not None and owner.root == a
    assert claims.other_owner(NetConfig(root=a), cdir) is None  # its own claim is not another's
    assert claims.other_owner(NetConfig(root=b, bridge="pyrb", subnet="10.67.0.0/16"), cdir) is None
    (Path(a) / "pods" / "default_p0").rmdir()  # no pod and no supervisor: stale
    assert claims.other_owner(NetConfig(root=b), cdir) is None
