"""Model checks and nftables text (pure; the integration tests feed the text to the kernel)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyrunc.errors import NetworkError
from pyrunc.network import nftables
from pyrunc.network.model import NetConfig, PortMapping, check_pod_key

CFG = NetConfig(root="/tmp/r", bridge="pyt-br.1", subnet="10.66.5.0/24")


def test_table_name_is_per_bridge_and_an_nft_identifier():
    assert CFG.table == "pyrunc_pyt_br_1"


def test_host_veth_is_stable_short_and_differs_per_root():
    name = CFG.host_veth("default/web")
    assert name == CFG.host_veth("default/web")
    assert name.startswith("vp") and len(name) == 12
    assert NetConfig(root="/tmp/other", bridge="pyt-br.1").host_veth("default/web") != name


def test_gateway_is_first_address():
    assert CFG.gateway == "10.66.5.1"


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (NetConfig(root="/r", bridge="a-very-long-bridge-name"), "bridge name"),
        (NetConfig(root="/r", subnet="10.66.5.1/24"), "not an IPv4 network"),
        (NetConfig(root="/r", subnet="10.66.5.0/31"), "too small"),
    ],
)
def test_bad_config_is_refused(cfg, message):
    with pytest.raises(NetworkError, match=message):
        cfg.check()


@pytest.mark.parametrize(
    ("port", "message"),
    [
        (PortMapping(0, 80), "hostPort 0 is not in 1-65535"),
        (PortMapping(80, 70000), "containerPort 70000"),
        (PortMapping(80, 80, "SCTP"), "not TCP or UDP"),
        (PortMapping(80, 80, "TCP", "localhost"), "not an IPv4 address"),
    ],
)
def test_bad_port_is_refused(port, message):
    with pytest.raises(NetworkError, match=message):
        port.check()


def test_pod_key_cannot_break_out_of_a_quote():
    check_pod_key("kube-system/coredns-5d78c9869d-abc12")
    with pytest.raises(NetworkError):
        check_pod_key('default/x" ; flush ruleset ; "')


def test_node_table_has_hooks_and_masquerade():
    text = nftables.render_node_table(CFG)
    assert "add table ip pyrunc_pyt_br_1\n" in text
    assert "type nat hook prerouting" in text and "type nat hook output" in text
    assert "add rule ip pyrunc_pyt_br_1 postrouting ip saddr 10.66.5.0/24 ip daddr != 10.66.5.0/24 masquerade" in text
    assert 'oifname "pyt-br.1" ip saddr 127.0.0.0/8 ct status dnat masquerade' in text


def test_node_table_drops_pod_traffic_to_localhost():
    # kube-proxy's rule for CVE-2020-8558, in the table's own filter input chain, refilled every time.
    text = nftables.render_node_table(CFG)
    assert "add chain ip pyrunc_pyt_br_1 input { type filter hook input priority 0; policy accept; }" in text
    assert "flush chain ip pyrunc_pyt_br_1 input" in text
    assert ('add rule ip pyrunc_pyt_br_1 input iifname "pyt-br.1" ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8 '
            'ct state ! established,related ct status ! dnat drop') in text
    assert text.index("flush chain ip pyrunc_pyt_br_1 input") < text.index("add rule ip pyrunc_pyt_br_1 input")


def test_port_elements_go_to_the_right_map():
    ports = [PortMapping(8080, 80), PortMapping(5353, 53, "UDP", "127.0.0.1")]
    assert nftables.render_add_ports(CFG, "default/web", "10.66.5.2", ports) == (
        'add element ip pyrunc_pyt_br_1 hostports { tcp . 8080 comment "default/web" : 10.66.5.2 . 80 }\n'
        'add element ip pyrunc_pyt_br_1 hostports_ip { 127.0.0.1 . udp . 5353 comment "default/web" : 10.66.5.2 . 53 }\n'
    )


def test_delete_is_add_then_delete_by_key():
    text = nftables.render_delete_ports(CFG, "default/web", "10.66.5.2", [PortMapping(8080, 80)])
    assert text.splitlines() == [
        'add element ip pyrunc_pyt_br_1 hostports { tcp . 8080 comment "default/web" : 10.66.5.2 . 80 }',
        "delete element ip pyrunc_pyt_br_1 hostports { tcp . 8080 }",
    ]


def test_no_ports_renders_nothing_to_run():
    assert nftables.render_add_ports(CFG, "default/a", "10.66.5.2", []).strip() == ""


def test_missing_nft_is_a_network_error_with_a_hint(monkeypatch):
    monkeypatch.setattr(nftables.shutil, "which", lambda *a, **k: None)
    with pytest.raises(NetworkError, match="nft not found") as err:
        nftables.nft("list ruleset\n", "list")
    assert "nftables" in err.value.hint


def test_importing_the_package_does_not_load_pyroute2():
    code = "import sys, pyrunc.network; print('pyroute2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
