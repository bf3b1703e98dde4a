"""Pure unit conversions of the kubelet and the OCI runtimes (no I/O).

Sources: kubelet pkg/kubelet/cm/helpers_linux.go (shares, quota), pkg/kubelet/qos/policy.go
(oom_score_adj), opencontainers/cgroups utils.go (shares -> cpu.weight), containerd
restrict_oom_score_adj (clamping).
"""

from __future__ import annotations

import math

MIN_SHARES = 2
MAX_SHARES = 262144  # kernel MAX_SHARES (1 << 18)
SHARES_PER_CPU = 1024
MILLI_CPU_TO_CPU = 1000
QUOTA_PERIOD = 100000  # microseconds (100 ms)
MIN_QUOTA_PERIOD = 1000
MAX_WEIGHT = 10000

GUARANTEED_OOM_SCORE_ADJ = -997
BESTEFFORT_OOM_SCORE_ADJ = 1000

WEIGHT_METHODS = ("quadratic", "linear")


def milli_cpu_to_shares(milli_cpu: int) -> int:
    """cpu.shares for a CPU request in millicores; no request (0) gives the minimum, 2."""
    if milli_cpu <= 0:
        return MIN_SHARES
    shares = milli_cpu * SHARES_PER_CPU // MILLI_CPU_TO_CPU
    return max(MIN_SHARES, min(shares, MAX_SHARES))


def milli_cpu_to_quota(milli_cpu: int, period: int = QUOTA_PERIOD) -> int:
    """cpu.cfs_quota_us for a CPU limit in millicores over ``period`` microseconds.

    0 means "no limit" and returns 0, as the kubelet's MilliCPUToQuota does; callers write
    nothing (v1 -1, v2 "max") for it. Any positive limit is at least 1000 us (MinQuotaPeriod).
    """
    if milli_cpu <= 0:
        return 0
    return max(MIN_QUOTA_PERIOD, milli_cpu * period // MILLI_CPU_TO_CPU)


def shares_to_weight(shares: int, method: str = "quadratic") -> int:
    """cgroup v2 cpu.weight (1..10000) for cgroup v1 cpu.shares (2..262144).

    ``quadratic`` is runc >= 1.3.2 / crun >= 1.23: a quadratic in log2(shares) through the
    three points (2 -> 1, 1024 -> 100, 262144 -> 10000), rounded up, so the default 1024
    shares map to the default weight 100. ``linear`` is the older runc formula
    1 + ((shares - 2) * 9999) // 262142 (1024 -> 39). Both return 0 for 0 ("unset").
    """
    if method not in WEIGHT_METHODS:
        raise ValueError(f"unknown cpu weight conversion {method!r} (want one of {', '.join(WEIGHT_METHODS)})")
    if shares == 0:
        return 0
    # Below the kernel minimum both formulas give the minimum weight (runc's linear one
    # would underflow its unsigned arithmetic for 1 share).
    if shares <= MIN_SHARES:
        return 1
    if shares >= MAX_SHARES:
        return MAX_WEIGHT
    if method == "linear":
        return 1 + ((shares - MIN_SHARES) * (MAX_WEIGHT - 1)) // (MAX_SHARES - MIN_SHARES)
    log = math.log2(shares)
    exponent = (log * log + 125 * log) / 612.0 - 7.0 / 34.0
    return min(MAX_WEIGHT, math.ceil(10**exponent))


def oom_score_adj(qos: str, memory_request_bytes: int, capacity_bytes: int) -> int:
    """The kubelet's oom_score_adj for a container of a pod in QoS class ``qos``.

    Burstable: 1000 - 1000 * request / capacity, kept in [3, 999] so that a Burstable
    container is always killed before a Guaranteed one (-997) and never ties with
    BestEffort (1000).
    """
    if qos == "Guaranteed":
        return GUARANTEED_OOM_SCORE_ADJ
    if qos == "BestEffort":
        return BESTEFFORT_OOM_SCORE_ADJ
    if qos != "Burstable":
        raise ValueError(f"unknown QoS class {qos!r}")
    if capacity_bytes <= 0:
        raise ValueError("machine memory capacity must be positive")
    adj = 1000 - (1000 * max(0, memory_request_bytes)) // capacity_bytes
    lowest = 1000 + GUARANTEED_OOM_SCORE_ADJ
    if adj < lowest:
        return lowest
    if adj == BESTEFFORT_OOM_SCORE_ADJ:
        return adj - 1
    return adj


def clamp_oom_score_adj(wanted: int, lowest_allowed: int) -> int:
    """``wanted`` raised to ``lowest_allowed`` (containerd restrict_oom_score_adj), within -1000..1000."""
    return max(-1000, min(1000, max(wanted, lowest_allowed)))
