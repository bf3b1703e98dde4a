"""QoS classes and the kubelet's pod/container cgroup values."""

from __future__ import annotations

from typing import Any

import pytest

from pyrunc.cgroups.plan import (
    CgroupValues,
    ContainerResources,
    describe_values,
    plan_pod,
    qos_class,
)
from pyrunc.printers.describe import _qos_class

MI = 1024**2
GI = 1024**3
C = ContainerResources


def guaranteed_demo() -> list[ContainerResources]:
    return [C("app", cpu_request_milli=700, cpu_limit_milli=700, memory_request=200 * MI, memory_limit=200 * MI)]


def burstable_demo() -> list[ContainerResources]:
    return [C("app", memory_request=100 * MI, memory_limit=200 * MI)]


@pytest.mark.parametrize(
    ("containers", "qos"),
    [
        ([C("a")], "BestEffort"),
        ([C("a"), C("b")], "BestEffort"),
        ([C("a", cpu_request_milli=0, memory_limit=0)], "BestEffort"),  # zero counts as absent
        (guaranteed_demo(), "Guaranteed"),
        (burstable_demo(), "Burstable"),
        ([C("a", cpu_limit_milli=500, memory_limit=64 * MI)], "Guaranteed"),  # requests default to limits
        ([C("a", cpu_request_milli=100, cpu_limit_milli=500, memory_limit=64 * MI)], "Burstable"),
        ([C("a", cpu_limit_milli=500)], "Burstable"),  # memory limit missing
        ([C("a", cpu_request_milli=100)], "Burstable"),
        (guaranteed_demo() + [C("b")], "Burstable"),  # one container without limits
        (guaranteed_demo() + [C("b", cpu_limit_milli=100, memory_limit=MI)], "Guaranteed"),
    ],
)
def test_qos_class(containers: list[ContainerResources], qos: str) -> None:
    assert qos_class(containers) == qos


# Guaranteed needs requests = limits for cpu AND memory, in every container: one resource matching
# is not enough, nor is one container matching.
PARTLY_EQUAL = [
    ([C("a", cpu_request_milli=500, cpu_limit_milli=500, memory_request=32 * MI, memory_limit=64 * MI)], "Burstable"),
    ([C("a", cpu_request_milli=250, cpu_limit_milli=500, memory_request=64 * MI, memory_limit=64 * MI)], "Burstable"),
    ([C("a", cpu_request_milli=500, cpu_limit_milli=500, memory_request=64 * MI, memory_limit=64 * MI),
      C("b", cpu_request_milli=100, cpu_limit_milli=100, memory_request=MI, memory_limit=2 * MI)], "Burstable"),
    ([C("a", cpu_request_milli=500, cpu_limit_milli=500, memory_request=64 * MI, memory_limit=64 * MI),
      C("b", cpu_request_milli=50, cpu_limit_milli=100, memory_request=MI, memory_limit=MI)], "Burstable"),
    ([C("a", cpu_request_milli=500, cpu_limit_milli=500, memory_request=64 * MI, memory_limit=64 * MI),
      C("b", cpu_request_milli=100, cpu_limit_milli=100, memory_request=MI, memory_limit=MI)], "Guaranteed"),
    # A zero limit is no limit, even where the zero requests and limits would sum equal.
    ([C("a", cpu_limit_milli=0, memory_request=64 * MI, memory_limit=64 * MI)], "Burstable"),
]


@pytest.mark.parametrize(("containers", "qos"), PARTLY_EQUAL)
def test_qos_needs_every_resource_equal(containers: list[ContainerResources], qos: str) -> None:
    assert qos_class(containers) == qos
    assert plan_pod("u", containers, [], machine_memory=4 * GI).qos == qos


def _manifest_resources(c: ContainerResources) -> dict[str, Any]:
    """The container as a manifest after API defaulting (requests written out)."""
    def amounts(cpu: int | None, memory: int | None) -> dict[str, str]:
        out = {"cpu": f"{cpu}m"} if cpu is not None else {}
        return out | ({"memory": str(memory)} if memory is not None else {})
    return {"name": c.name, "resources": {
        "requests": amounts(c.effective_cpu_request(), c.effective_memory_request()),
        "limits": amounts(c.cpu_limit_milli, c.memory_limit)}}


@pytest.mark.parametrize(("containers", "qos"), PARTLY_EQUAL + [
    (guaranteed_demo(), "Guaranteed"), (burstable_demo(), "Burstable"), ([C("a")], "BestEffort")])
def test_describe_computes_the_same_qos(containers: list[ContainerResources], qos: str) -> None:
    # describe's fallback when a stored status has no qosClass must agree with the planner
    assert _qos_class({"containers": [_manifest_resources(c) for c in containers]}) == qos


def test_guaranteed_demo_pod() -> None:
    plan = plan_pod("u1", guaranteed_demo(), [], machine_memory=4 * GI)
    assert plan.qos == "Guaranteed"
    expected = CgroupValues(cpu_shares=716, cpu_quota=70000, cpu_period=100000, memory_limit=200 * MI, pids_limit=None)
    assert plan.pod == expected
    assert plan.containers["app"] == expected
    assert plan.oom_score_adj == {"app": -997}


def test_burstable_demo_pod() -> None:
    plan = plan_pod("u2", burstable_demo(), [], machine_memory=4 * GI, pids_limit=100)
    assert plan.qos == "Burstable"
    assert plan.pod == CgroupValues(2, None, 100000, 200 * MI, 100)
    assert plan.containers["app"] == CgroupValues(2, None, 100000, 200 * MI, None)
    # 1000 - 1000 * 100Mi / 4Gi = 1000 - 24 (integer division)
    assert plan.oom_score_adj == {"app": 976}


def test_besteffort_demo_pod() -> None:
    plan = plan_pod("u3", [C("app")], [], machine_memory=4 * GI)
    assert plan.qos == "BestEffort"
    assert plan.pod == CgroupValues(2, None, 100000, None, None)
    assert plan.containers["app"] == CgroupValues(2, None, 100000, None, None)
    assert plan.oom_score_adj == {"app": 1000}


def test_pod_values_sum_containers() -> None:
    containers = [
        C("a", cpu_request_milli=250, cpu_limit_milli=500, memory_request=64 * MI, memory_limit=128 * MI),
        C("b", cpu_request_milli=250, cpu_limit_milli=1000, memory_request=64 * MI, memory_limit=256 * MI),
    ]
    plan = plan_pod("u4", containers, [], machine_memory=GI)
    assert plan.qos == "Burstable"
    assert plan.pod == CgroupValues(512, 150000, 100000, 384 * MI, None)
    assert plan.containers["a"] == CgroupValues(256, 50000, 100000, 128 * MI, None)
    assert plan.containers["b"] == CgroupValues(256, 100000, 100000, 256 * MI, None)
    assert plan.oom_score_adj == {"a": 938, "b": 938}


def test_pod_limits_only_when_every_container_declares_them() -> None:
    containers = [C("a", cpu_request_milli=100, cpu_limit_milli=500, memory_limit=128 * MI), C("b", cpu_request_milli=100)]
    plan = plan_pod("u5", containers, [], machine_memory=GI)
    assert plan.pod.cpu_shares == 1024 * 200 // 1000
    assert plan.pod.cpu_quota is None
    assert plan.pod.memory_limit is None
    assert plan.containers["a"].cpu_quota == 50000


def test_init_containers_take_the_max() -> None:
    app = [
        C("a", cpu_request_milli=100, cpu_limit_milli=100, memory_request=100 * MI, memory_limit=100 * MI),
        C("b", cpu_request_milli=100, cpu_limit_milli=100, memory_request=100 * MI, memory_limit=100 * MI),
    ]
    big_init = [C("init", cpu_request_milli=500, cpu_limit_milli=500, memory_request=300 * MI, memory_limit=300 * MI)]
    plan = plan_pod("u6", app, big_init, machine_memory=GI)
    assert plan.qos == "Guaranteed"
    assert plan.pod == CgroupValues(512, 50000, 100000, 300 * MI, None)
    assert set(plan.containers) == {"init", "a", "b"}
    small_init = [C("init", cpu_request_milli=50, cpu_limit_milli=50, memory_request=50 * MI, memory_limit=50 * MI)]
    assert plan_pod("u7", app, small_init, machine_memory=GI).pod == CgroupValues(204, 20000, 100000, 200 * MI, None)


def test_init_container_without_limits_unsets_pod_limits() -> None:
    plan = plan_pod("u8", burstable_demo(), [C("init")], machine_memory=GI)
    assert plan.pod.memory_limit is None


def test_plan_rejects_duplicates_and_bad_method() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        plan_pod("u", [C("a")], [C("a")], machine_memory=GI)
    with pytest.raises(ValueError):
        plan_pod("u", [C("a")], [], machine_memory=GI, weight_method="cubic")


def test_describe_v1() -> None:
    rows = describe_values(plan_pod("u1", guaranteed_demo(), [], machine_memory=GI, pids_limit=50), 1)
    assert ("cpu:podu1/cpu.shares", "716") in rows
    assert ("cpu:podu1/cpu.cfs_quota_us", "70000") in rows
    assert ("memory:podu1/memory.limit_in_bytes", str(200 * MI)) in rows
    assert ("pids:podu1/pids.max", "50") in rows
    assert ("cpu:podu1/app/cpu.shares", "716") in rows
    assert not any(path.startswith("pids:podu1/app") for path, _ in rows)


def test_describe_v2() -> None:
    plan = plan_pod("u2", burstable_demo(), [], machine_memory=GI)
    rows = dict(describe_values(plan, 2))
    assert rows["burstable/podu2/cpu.weight"] == "1"
    assert rows["burstable/podu2/cpu.max"] == "max 100000"
    assert rows["burstable/podu2/memory.max"] == str(200 * MI)
    assert rows["burstable/podu2/app/memory.oom.group"] == "1"
    assert "burstable/podu2/memory.oom.group" not in rows
    g = dict(describe_values(plan_pod("g", guaranteed_demo(), [], machine_memory=GI), 2))
    assert g["podg/cpu.weight"] == "76"  # 716 shares: ceil(10 ** 1.8779...)
    assert g["podg/cpu.max"] == "70000 100000"
    linear = dict(describe_values(plan_pod("g", guaranteed_demo(), [], machine_memory=GI), 2, "linear"))
    assert linear["podg/cpu.weight"] == "28"


def test_describe_null_driver() -> None:
    rows = describe_values(plan_pod("u", [C("a")], [], machine_memory=GI), 0)
    assert len(rows) == 1 and "not enforced" in rows[0][1]
