"""Pod-level spec.resources (KEP 2837): QoS from the pod-level values, the pod cgroup as the kubelet's
ResourceConfigForPod sizes it, container groups bounded by the pod's limits, the containers' aggregate
request (sidecars included) and sums printed as Kubernetes prints them."""

from __future__ import annotations

import pytest

from pyrunc.cgroups.plan import BESTEFFORT, BURSTABLE, GUARANTEED, ContainerResources, PodLevelResources, plan_pod, pod_level_qos
from pyrunc.spec.load import pod_from_dict
from pyrunc.spec.model import aggregate_requests
from pyrunc.spec.quantity import parse_quantity

GI = 1024**3
MI = 1024**2


@pytest.mark.parametrize("pod,qos", [
    (PodLevelResources(), BESTEFFORT),
    (PodLevelResources(cpu_request_milli=0, memory_limit=0), BESTEFFORT),  # zeros count as absent
    (PodLevelResources(1000, 1000, 100 * MI, 100 * MI), GUARANTEED),
    (PodLevelResources(500, 1000, 100 * MI, 100 * MI), BURSTABLE),
    (PodLevelResources(1000, 1000, None, None), BURSTABLE),  # Guaranteed needs a memory limit too
    (PodLevelResources(None, None, 10 * MI, None), BURSTABLE),
])
def test_pod_level_qos(pod: PodLevelResources, qos: str) -> None:
    assert pod_level_qos(pod) == qos


def test_pod_level_values_override_the_containers() -> None:
    # Containers say Guaranteed on their own; the pod-level request below the limit makes it Burstable.
    c = ContainerResources("a", 200, 200, 64 * MI, 64 * MI)
    plan = plan_pod("u", [c], [], machine_memory=8 * GI, pod_level=PodLevelResources(300, 2000, 100 * MI, 200 * MI))
    assert plan.qos == BURSTABLE
    assert (plan.pod.cpu_shares, plan.pod.cpu_quota, plan.pod.memory_limit) == (307, 200000, 200 * MI)
    # The container keeps its own limits (within the pod's).
    assert (plan.containers["a"].cpu_quota, plan.containers["a"].memory_limit) == (20000, 64 * MI)


def test_a_pod_limit_is_declared_even_when_a_container_has_none() -> None:
    plan = plan_pod("u", [ContainerResources("a", 100), ContainerResources("b")], [], machine_memory=8 * GI,
                    pod_level=PodLevelResources(100, 1000, None, 256 * MI))
    assert (plan.pod.cpu_quota, plan.pod.memory_limit) == (100000, 256 * MI)
    # Containers without limits of their own get the pod's in their groups; their shares stay their own.
    assert [(v.cpu_shares, v.cpu_quota, v.memory_limit) for v in plan.containers.values()] == [
        (102, 100000, 256 * MI), (2, 100000, 256 * MI)]


def test_without_pod_level_limits_there_is_no_pod_quota() -> None:
    plan = plan_pod("u", [ContainerResources("a", 100, 500), ContainerResources("b")], [], machine_memory=8 * GI,
                    pod_level=PodLevelResources(1000, None, None, None))
    assert plan.qos == BURSTABLE
    assert (plan.pod.cpu_shares, plan.pod.cpu_quota, plan.pod.memory_limit) == (1024, None, None)


def test_a_pod_memory_request_is_shared_out_for_oom_score_adj() -> None:
    # KEP 2837: 1000 - 1000 * (own request + unclaimed pod request / containers) / capacity.
    plan = plan_pod("u", [ContainerResources("a", memory_request=100 * MI), ContainerResources("b")], [],
                    machine_memory=1000 * MI, pod_level=PodLevelResources(None, None, 300 * MI, None))
    assert dict(plan.oom_score_adj) == {"a": 800, "b": 900}


def _pod(spec: dict) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def test_aggregate_requests_count_sidecars_with_the_app_and_before_later_inits() -> None:
    pod = pod_from_dict(_pod({
        "initContainers": [
            {"name": "side", "image": "b", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m"}}},
            {"name": "big-init", "image": "b", "resources": {"requests": {"cpu": "1"}}},
        ],
        "containers": [{"name": "app", "image": "b", "resources": {"requests": {"cpu": "300m", "memory": "1Gi"}}}],
    }))
    total = aggregate_requests(pod.spec.containers, pod.spec.init_containers)
    # max(app + sidecar = 500m, init + sidecars started before it = 1200m)
    assert (str(total["cpu"]), str(total["memory"])) == ("1200m", "1Gi")


@pytest.mark.parametrize("a,b,text", [("1", "500m", "1500m"), ("1Gi", "512Mi", "1536Mi"), ("2", "2", "4"),
                                      ("100m", "900m", "1"), ("1Mi", "1", "1048577"), ("1k", "1k", "2k")])
def test_sums_print_as_kubernetes_prints_them(a: str, b: str, text: str) -> None:
    assert str(parse_quantity(a) + parse_quantity(b)) == text


def test_describe_falls_back_on_the_pod_level_qos() -> None:
    from pyrunc.printers.describe import _qos_class

    spec = {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
            "containers": [{"name": "a"}]}
    assert _qos_class(spec) == GUARANTEED
    assert _qos_class({"containers": [{"name": "a"}]}) == BESTEFFORT
