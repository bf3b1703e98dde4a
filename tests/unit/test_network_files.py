"""/etc/hosts and /etc/resolv.conf rendering (pure)."""

from __future__ import annotations

from pyrunc.network.files import parse_resolv, read_host_resolv, render_hosts, render_resolv

LOCALHOST = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def test_hosts_plain_pod_matches_kubelet():
    assert render_hosts("10.200.0.4", "nginx") == "# Kubernetes-managed hosts file.\n" + LOCALHOST + "10.200.0.4\tnginx\n"


def test_hosts_with_subdomain_and_aliases():
    text = render_hosts(
        "10.66.0.7",
        "web-0",
        subdomain="web",
        namespace="shop",
        host_aliases=[("127.0.0.1", ["foo.local", "bar.local"]), ("10.1.2.3", ["foo.remote"])],
    )
    assert text == (
        "# Kubernetes-managed hosts file.\n"
        + LOCALHOST
        + "10.66.0.7\tweb-0.web.shop.svc.cluster.local\tweb-0\n"
        + "\n# Entries added by HostAliases.\n"
        + "127.0.0.1\tfoo.local\tbar.local\n"
        + "10.1.2.3\tfoo.remote\n"
    )


def test_hosts_subdomain_without_cluster_domain_is_plain():
    assert render_hosts("10.66.0.7", "a", subdomain="s", cluster_domain="").endswith("10.66.0.7\ta\n")


def test_hosts_host_network_keeps_node_file_and_adds_aliases():
    node = "127.0.0.1\tlocalhost\n10.0.0.5\tnode1\n"
    text = render_hosts("", "node1", host_network=True, host_hosts=node, host_aliases=[("1.2.3.4", ["x"])])
    assert text == "# Kubernetes-managed hosts file (host network).\n" + node + "\n# Entries added by HostAliases.\n1.2.3.4\tx\n"


HOST = """# generated
nameserver 127.0.0.53
nameserver 10.255.255.53
search old.example
search corp.example lab.example
options edns0 ndots:1 trust-ad
"""


def test_parse_resolv_last_search_wins():
    assert parse_resolv(HOST) == (["127.0.0.53", "10.255.255.53"], ["corp.example", "lab.example"], ["edns0", "ndots:1", "trust-ad"])


def test_default_policy_copies_host_minus_loopback_servers():
    assert render_resolv(HOST, "Default") == (
        "search corp.example lab.example\nnameserver 10.255.255.53\noptions edns0 ndots:1 trust-ad\n"
    )


def test_cluster_first_without_cluster_dns_falls_back_to_host():
    assert render_resolv(HOST, "ClusterFirst") == render_resolv(HOST, "Default")


def test_none_policy_uses_only_dns_config():
    text = render_resolv(HOST, "None", nameservers=["1.2.3.4"], searches=["ns1.svc.example"], options=["ndots:2"])
    assert text == "search ns1.svc.example\nnameserver 1.2.3.4\noptions ndots:2\n"


def test_dns_config_is_merged_deduplicated_and_overrides_options():
    text = render_resolv(
        HOST,
        "ClusterFirst",
        nameservers=["10.255.255.53", "10.0.0.10"],
        searches=["lab.example", "my.example"],
        options=["ndots:5", "single-request"],
    )
    assert text == (
        "search corp.example lab.example my.example\n"
        "nameserver 10.255.255.53\nnameserver 10.0.0.10\n"
        "options edns0 ndots:5 trust-ad single-request\n"
    )


def test_kubelet_limits_three_nameservers_and_32_search_domains():
    servers = [f"10.0.0.{i}" for i in range(1, 6)]
    text = render_resolv("", "None", nameservers=servers, searches=[f"d{i}.example" for i in range(40)])
    assert text.count("nameserver") == 3
    assert text.splitlines()[0].split()[1:] == [f"d{i}.example" for i in range(32)]


def test_kubelet_limits_search_list_to_2048_characters():
    searches = [f"d{i:02d}." + "x" * 60 for i in range(40)]  # 64 characters each
    domains = render_resolv("", "None", nameservers=["10.0.0.1"], searches=searches).splitlines()[0].split()[1:]
    assert domains == searches[:31]  # 31 * 64 + 30 spaces = 2014; a 32nd would make 2079
    assert len(" ".join(domains)) <= 2048


def test_read_host_resolv_prefers_resolved_upstreams_when_only_stub(tmp_path, monkeypatch):
    stub = tmp_path / "resolv.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0\n")
    upstream = tmp_path / "upstream.conf"
    upstream.write_text("nameserver 192.0.2.1\n")
    monkeypatch.setattr("pyrunc.network.files.RESOLVED_UPSTREAM", str(upstream))
    assert read_host_resolv(str(stub)) == "nameserver 192.0.2.1\n"
    plain = tmp_path / "plain.conf"
    plain.write_text("nameserver 192.0.2.9\n")
    assert read_host_resolv(str(plain)) == "nameserver 192.0.2.9\n"
