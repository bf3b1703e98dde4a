"""The kubelet/runc unit conversions, with their boundaries."""

from __future__ import annotations

import pytest

from pyrunc.cgroups.convert import (
    clamp_oom_score_adj,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    oom_score_adj,
    shares_to_weight,
)

GI = 1024**3


@pytest.mark.parametrize(
    ("milli", "shares"),
    [(0, 2), (1, 2), (2, 2), (1000, 1024), (100, 102), (250, 256), (700, 716), (1001, 1025),
     (256000, 262144), (10**9, 262144)],
)
def test_milli_cpu_to_shares(milli: int, shares: int) -> None:
    assert milli_cpu_to_shares(milli) == shares


@pytest.mark.parametrize(
    ("milli", "quota"),
    [(0, 0), (1, 1000), (9, 1000), (10, 1000), (11, 1100), (700, 70000), (1000, 100000), (64000, 6400000)],
)
def test_milli_cpu_to_quota(milli: int, quota: int) -> None:
    assert milli_cpu_to_quota(milli) == quota


def test_quota_scales_with_period() -> None:
    assert milli_cpu_to_quota(500, period=50000) == 25000
    assert milli_cpu_to_quota(5, period=50000) == 1000


@pytest.mark.parametrize(
    ("shares", "quadratic", "linear"),
    [(0, 0, 0), (1, 1, 1), (2, 1, 1), (3, 2, 1), (1024, 100, 39), (2048, 174, 79), (102, 17, 4),
     (262143, 10000, 9999), (262144, 10000, 10000), (10**7, 10000, 10000)],
)
def test_shares_to_weight(shares: int, quadratic: int, linear: int) -> None:
    assert shares_to_weight(shares, "quadratic") == quadratic
    assert shares_to_weight(shares, "linear") == linear


def test_quadratic_weight_is_monotonic_and_in_range() -> None:
    weights = [shares_to_weight(s) for s in range(2, 262145, 97)]
    assert weights == sorted(weights)
    assert weights[0] == 1 and weights[-1] <= 10000


def test_unknown_weight_method() -> None:
    with pytest.raises(ValueError, match="cubic"):
        shares_to_weight(1024, "cubic")


@pytest.mark.parametrize(
    ("qos", "mem_request", "capacity", "adj"),
    [
        ("Guaranteed", 200 * 1024**2, GI, -997),
        ("BestEffort", 0, GI, 1000),
        ("Burstable", 0, GI, 999),  # 1000 would tie with BestEffort
        ("Burstable", 1, GI, 999),
        ("Burstable", GI // 2, GI, 500),
        ("Burstable", 100 * 1024**2, 4 * GI, 976),
        ("Burstable", GI, GI, 3),  # floor: 1000 + (-997)
        ("Burstable", 2 * GI, GI, 3),
        ("Burstable", GI * 998 // 1000, GI, 3),
        ("Burstable", GI * 996 // 1000, GI, 5),
    ],
)
def test_oom_score_adj(qos: str, mem_request: int, capacity: int, adj: int) -> None:
    assert oom_score_adj(qos, mem_request, capacity) == adj


# pkg/kubelet/qos/policy.go, boundary by boundary, on a capacity where 1000 * request / capacity
# is exact: the floor is 1000 + (-997) = 3 (it was 2 when Guaranteed had -998), and 1000 becomes 999.
@pytest.mark.parametrize(("mem_request", "adj"), [
    (0, 999), (999, 999), (1000, 999), (1999, 999), (2000, 998),
    (996_000, 4), (997_000, 3), (997_999, 3), (998_000, 3), (999_000, 3), (1_000_000, 3), (5_000_000, 3),
])
def test_oom_score_adj_kubelet_boundaries(mem_request: int, adj: int) -> None:
    assert oom_score_adj("Burstable", mem_request, 1_000_000) == adj


def test_oom_score_adj_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        oom_score_adj("Platinum", 0, GI)
    with pytest.raises(ValueError):
        oom_score_adj("Burstable", 0, 0)


@pytest.mark.parametrize(
    ("wanted", "lowest", "result"),
    [(-997, 0, 0), (-997, -1000, -997), (500, 0, 500), (0, 0, 0), (1000, 0, 1000), (-2000, -1000, -1000), (5, 10, 10)],
)
def test_clamp_oom_score_adj(wanted: int, lowest: int, result: int) -> None:
    assert clamp_oom_score_adj(wanted, lowest) == result
