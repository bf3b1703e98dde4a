"""`pyrunc top pod`: the CPU rate, kubectl's number formats and table shape (pure, no root)."""

from __future__ import annotations

import argparse

import pytest

from pyrunc.cgroups.base import CgroupStats
from pyrunc.cli import top_cmd
from pyrunc.cli.top_cmd import ContainerUsage, Sample, cpu_rate, cpu_text, measure, memory_text, top_table
from pyrunc.errors import CgroupError

MI = 1024 * 1024


def test_cpu_rate_is_cpu_ns_per_wall_second() -> None:
    # 50 ms of CPU in 500 ms of wall time = 0.1 core = 100_000_000 nanocores.
    assert cpu_rate(Sample(1_000_000_000, 0, 0), Sample(1_050_000_000, 0, 500_000_000)) == 100_000_000
    # Two busy cores.
    assert cpu_rate(Sample(0, 0, 0), Sample(2_000_000_000, 0, 1_000_000_000)) == 2_000_000_000


@pytest.mark.parametrize("first,second", [
    (Sample(5, 0, 0), Sample(5, 0, 10)),  # idle
    (Sample(9_000, 0, 0), Sample(10, 0, 10)),  # counter reset: a restarted container
    (Sample(0, 0, 10), Sample(10, 0, 10)),  # no time passed
])
def test_cpu_rate_never_negative_or_infinite(first: Sample, second: Sample) -> None:
    assert cpu_rate(first, second) == 0


@pytest.mark.parametrize("nanocores,text", [
    (0, "0m"), (1, "1m"), (999_999, "1m"), (1_000_000, "1m"), (1_000_001, "2m"), (12_300_000, "13m"),
    (700_000_000, "700m"), (2_000_000_000, "2000m"),
])
def test_cpu_text_rounds_up_like_milli_value(nanocores: int, text: str) -> None:
    assert cpu_text(nanocores) == text


@pytest.mark.parametrize("nbytes,text", [
    (0, "0Mi"), (MI - 1, "0Mi"), (MI, "1Mi"), (5 * MI + 10, "5Mi"), (200 * MI, "200Mi"), (3 * 1024 * MI, "3072Mi"),
])
def test_memory_text_is_whole_mebibytes_rounded_down(nbytes: int, text: str) -> None:
    assert memory_text(nbytes) == text


def usage(pod: str, container: str, milli: float, mib: int, namespace: str = "default") -> ContainerUsage:
    return ContainerUsage(namespace, pod, container, int(milli * 1_000_000), mib * MI)


USAGES = [
    usage("web", "nginx", 3, 20),
    usage("web", "sidecar", 2, 5),
    usage("db", "pg", 40, 100),
    usage("cache", "redis", 1, 300, namespace="infra"),
]


def test_pods_sum_their_containers_and_sort_by_name() -> None:
    out = top_table([u for u in USAGES if u.namespace == "default"])
    assert out == (
        "NAME   CPU(cores)   MEMORY(bytes)   \n"
        "db     40m          100Mi           \n"
        "web    5m           25Mi            \n"
    )


def test_containers_and_namespaces_columns() -> None:
    out = top_table(USAGES, containers=True, all_namespaces=True)
    assert out == (
        "NAMESPACE   POD     NAME      CPU(cores)   MEMORY(bytes)   \n"
        "default     db      pg        40m          100Mi           \n"
        "default     web     nginx     3m           20Mi            \n"
        "default     web     sidecar   2m           5Mi             \n"
        "infra       cache   redis     1m           300Mi           \n"
    )


def test_sort_by_usage_largest_first_and_no_headers() -> None:
    by_memory = top_table(USAGES, all_namespaces=True, sort_by="memory", no_headers=True)
    assert [line.split()[1] for line in by_memory.splitlines()] == ["cache", "db", "web"]
    by_cpu = top_table(USAGES, containers=True, sort_by="cpu", no_headers=True)
    assert [line.split()[1] for line in by_cpu.splitlines()] == ["pg", "nginx", "sidecar", "redis"]


def test_sum_rows_under_the_usage_columns() -> None:
    lines = top_table(USAGES[:3], total=True).splitlines()
    assert lines[-2].split() == ["________", "________"]
    assert lines[-1].split() == ["45m", "125Mi"]
    # The totals sit in the CPU and MEMORY columns, not under NAME.
    assert lines[-1].index("45m") == lines[0].index("CPU(cores)")


def test_pod_cpu_is_rounded_after_summing_containers() -> None:
    # Two containers at 0.4m each: kubectl adds the quantities first, then rounds up once.
    out = top_table([usage("p", "a", 0.4, 1), usage("p", "b", 0.4, 1)], no_headers=True)
    assert out.split()[1] == "1m"


def test_no_usage_prints_nothing() -> None:
    assert top_table([]) == ""


class FakeDriver:
    """Two readings per container; a container named `gone` loses its cgroup before the second."""

    def __init__(self) -> None:
        self.reads: dict[str, int] = {}

    def stats(self, uid: str, name: str) -> CgroupStats:
        n = self.reads[name] = self.reads.get(name, 0) + 1
        if name == "gone" and n > 1:
            raise CgroupError("no cgroup for pod", path=uid)
        return CgroupStats(cpu_usage_ns=n * 25_000_000, memory_working_set=n * MI)


def test_measure_samples_twice_over_the_window_and_skips_vanished_containers() -> None:
    ticks = iter([0, 0, 500_000_000, 500_000_000])
    slept: list[float] = []
    got = measure(FakeDriver(), [("default", "p", "u1", "app"), ("default", "p", "u1", "gone")],
                  window=0.5, clock=lambda: next(ticks), sleep=slept.append)
    assert slept == [0.5]
    # 25 ms of CPU over 0.5 s = 50m; memory is the second reading.
    assert got == [ContainerUsage("default", "p", "app", 50_000_000, 2 * MI)]


def test_cli_arguments() -> None:
    parser = argparse.ArgumentParser()
    top_cmd.add_arguments(parser)
    args = parser.parse_args(["pod", "web", "-n", "prod", "--containers", "--sort-by", "cpu", "--sum"])
    assert (args.resource, args.name, args.namespace, args.containers, args.sort_by, args.sum) == (
        "pod", "web", "prod", True, "cpu", True)
    assert parser.parse_args(["pods", "-A"]).all_namespaces
    with pytest.raises(SystemExit):
        parser.parse_args(["nodes"])


def test_running_containers_come_from_status() -> None:
    pod = {"status": {
        "initContainerStatuses": [{"name": "init", "state": {"terminated": {}}},
                                  {"name": "proxy", "state": {"running": {}}}],
        "containerStatuses": [{"name": "app", "state": {"running": {}}},
                              {"name": "crashed", "state": {"waiting": {}}}],
    }}
    assert top_cmd.running_containers(pod) == ["proxy", "app"]
