"""Issue 8 point 7: a pod cannot reach host services bound to 127.0.0.1 (CVE-2020-8558), while
127.0.0.1:hostPort on the host still reaches the pod.

The bridge has route_localnet=1 (127.0.0.1:hostPort from the node needs it), so the kernel accepts a
packet that a pod addresses to 127.0.0.1 through its gateway. A pod's own stack never sends one (its
127.0.0.0/8 is its own loopback), but a process with CAP_NET_RAW can: this test does exactly that
from the pod's network namespace, with hand-built Ethernet + IPv4 + TCP headers sent to the
bridge's MAC through an AF_PACKET socket on the pod's eth0.

Controls that prove the test can fail: the same raw SYN to a host listener on the bridge address
is answered (the machinery works), and with pyrunc's drop rule deleted the SYN to 127.0.0.1 is
answered too (it is that rule that stops it). Traffic goes only to this host, from a pod the test made.
"""

from __future__ import annotations

import json
import os
import random
import select
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from pyrunc.linux.syscalls import CLONE_NEWNET, setns
from tests.integration.helpers import Node, pod_yaml
from tests.integration.test_net_pods import HTTPD, checked_node, free_port, http_get, nft_table_text, poll_http, table

pytestmark = [pytest.mark.root, pytest.mark.network]

ETH_P_IP = 0x0800
SYN, ACK, RST = 0x02, 0x10, 0x04
ANSWER_WAIT = 3.0  # seconds a SYN may take to be answered: only bounds the negative case


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    return header[:16] + struct.pack("!H", _checksum(pseudo + header)) + header[18:]


def _ipv4(src: str, dst: str, payload: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), random.randrange(65536), 0x4000, 64,
                         socket.IPPROTO_TCP, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return header[:10] + struct.pack("!H", _checksum(header)) + header[12:] + payload


def _answer(frame: bytes, peer_port: int, my_port: int) -> tuple[int, int] | None:
    """(flags, seq) of a TCP segment from peer_port to my_port in an Ethernet frame, else None."""
    if len(frame) < 34 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP or frame[23] != socket.IPPROTO_TCP:
        return None
    ihl = (frame[14] & 0x0F) * 4
    tcp = frame[14 + ihl:]
    sport, dport, seq = struct.unpack("!HHI", tcp[:8])
    return (tcp[13], seq) if (sport, dport) == (peer_port, my_port) else None


def raw_handshake(netns: str, pod_ip: str, gateway_mac: str, dst: str, dport: int) -> dict[str, object]:
    """From inside `netns` (a forked child): a raw SYN to dst:dport via the gateway MAC; on a SYN-ACK,
    the final ACK. Returns {"synack": bool, "sport": int}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        result: dict[str, object] = {}
        try:
            os.close(r)
            fd = os.open(netns, os.O_RDONLY)
            setns(fd, CLONE_NEWNET)
            os.close(fd)
            # The pod's own kernel knows no such connection and would answer the SYN-ACK with a
            # RST before our ACK: drop its RSTs (a table in the pod's netns, gone with the pod).
            subprocess.run(["nft", "-f", "-"], check=True, text=True, input=(
                "add table ip rawtest\n"
                "add chain ip rawtest out { type filter hook output priority 0; policy accept; }\n"
                "flush chain ip rawtest out\n"
                "add rule ip rawtest out tcp flags rst drop\n"))
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
            s.bind(("eth0", ETH_P_IP))
            my_mac = s.getsockname()[4]
            sport, seq = random.randint(41000, 60000), random.randrange(1 << 32)
            eth = bytes.fromhex(gateway_mac.replace(":", "")) + my_mac + struct.pack("!H", ETH_P_IP)

            def send(flags: int, seq_: int, ack: int) -> None:
                s.send(eth + _ipv4(pod_ip, dst, _tcp(pod_ip, dst, sport, dport, seq_, ack, flags)))

            send(SYN, seq, 0)
            deadline = time.monotonic() + ANSWER_WAIT
            result = {"synack": False, "sport": sport}
            while (left := deadline - time.monotonic()) > 0:
                if not select.select([s], [], [], left)[0]:
                    break
                got = _answer(s.recv(65535), dport, sport)
                if got and got[0] & (SYN | ACK) == SYN | ACK:
                    send(ACK, seq + 1, (got[1] + 1) & 0xFFFFFFFF)
                    result["synack"] = True
                    break
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            result = {"error": f"{type(e).__name__}: {e}"}
        finally:
            os.write(w, json.dumps(result).encode())
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    result = json.loads(data)
    assert "error" not in result, result["error"]
    return result


def accepted(listener: socket.socket, wait: float) -> tuple[str, int] | None:
    """The peer of a connection the listener accepted within `wait` seconds, else None."""
    if not select.select([listener], [], [], wait)[0]:
        return None
    conn, peer = listener.accept()
    conn.close()
    return peer


@pytest.fixture(scope="module")
def hp_pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, int, dict[str, object]]]:
    with checked_node(tmp_path_factory.mktemp("netsec")) as n:
        port = free_port()
        ports = f"    ports:\n    - containerPort: 8080\n      hostPort: {port}\n"
        n.apply(pod_yaml("hp", f"  - name: web\n    image: busybox\n{HTTPD}{ports}"))
        yield n, port, n.wait_running("hp")


def _facts(n: Node, obj: dict[str, object]) -> tuple[str, str, str, str]:
    """(pod netns file, pod IP, gateway IP, the bridge's MAC)."""
    status = obj["status"]
    assert isinstance(status, dict)
    gateway = n.subnet.rsplit(".", 2)[0] + "." + n.subnet.split(".")[2] + ".1"
    mac = Path("/sys/class/net", n.bridge, "address").read_text().strip()
    return str(n.pod_dir("hp") / "ns" / "net"), str(status["podIP"]), gateway, mac


def _listener(address: str) -> socket.socket:
    s = socket.socket()
    s.bind((address, 0))
    s.listen(8)
    return s


def test_host_port_on_loopback_reaches_the_pod(hp_pod: tuple[Node, int, dict[str, object]]) -> None:
    n, port, _ = hp_pod
    assert poll_http(f"http://127.0.0.1:{port}/") == "hello from hp\n"
    assert Path(f"/proc/sys/net/ipv4/conf/{n.bridge}/route_localnet").read_text().strip() == "1"


def test_raw_syn_reaches_a_host_listener_on_the_bridge_address(hp_pod: tuple[Node, int, dict[str, object]]) -> None:
    # The control: the same machinery against a listener that pods may reach gets its answer.
    n, _, obj = hp_pod
    netns, pod_ip, gateway, mac = _facts(n, obj)
    with _listener("0.0.0.0") as listener:
        result = raw_handshake(netns, pod_ip, mac, gateway, listener.getsockname()[1])
        assert result["synack"] is True
        assert accepted(listener, ANSWER_WAIT) == (pod_ip, result["sport"])


def test_raw_syn_to_host_localhost_gets_no_answer(hp_pod: tuple[Node, int, dict[str, object]]) -> None:
    n, port, obj = hp_pod
    netns, pod_ip, _, mac = _facts(n, obj)
    assert (f'iifname "{n.bridge}" ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8 '
            "ct state ! established,related ct status ! dnat drop") in nft_table_text(n)
    with _listener("127.0.0.1") as listener:
        result = raw_handshake(netns, pod_ip, mac, "127.0.0.1", listener.getsockname()[1])
        assert result["synack"] is False, "a pod reached a host service bound to 127.0.0.1"
        assert accepted(listener, 1.0) is None
    # And the host's own loopback use of hostPorts is untouched by the rule.
    assert http_get(f"http://127.0.0.1:{port}/") == "hello from hp\n"


def test_without_the_drop_rule_the_hole_is_open(hp_pod: tuple[Node, int, dict[str, object]]) -> None:
    """Proves the previous test can fail: delete pyrunc's rule, and the same SYN is answered."""
    n, _, obj = hp_pod
    netns, pod_ip, _, mac = _facts(n, obj)
    listing = subprocess.run(["nft", "-a", "list", "chain", "ip", table(n), "input"],
                             capture_output=True, text=True, check=True).stdout
    handle = next(line.rsplit("# handle ", 1)[1] for line in listing.splitlines() if "drop" in line)
    subprocess.run(["nft", "delete", "rule", "ip", table(n), "input", "handle", handle], check=True)
    try:
        with _listener("127.0.0.1") as listener:
            result = raw_handshake(netns, pod_ip, mac, "127.0.0.1", listener.getsockname()[1])
            assert result["synack"] is True
            assert accepted(listener, ANSWER_WAIT) == (pod_ip, result["sport"])
    finally:
        # Put it back as pyrunc writes it (the next pod set-up would too).
        from pyrunc.network import NetConfig
        from pyrunc.network.nftables import nft, render_node_table

        nft(render_node_table(NetConfig(root=n.root, bridge=n.bridge, subnet=n.subnet)), "restore the node table")
    assert "ct status ! dnat drop" in nft_table_text(n)
