"""pyrunc top pod [NAME] [-n NS | -A] [--containers] [--sort-by cpu|memory] [--sum] [--no-headers]

Like `kubectl top pod`, with the node's cgroups as the metrics pipeline: CPU is the growth of
each container's CPU usage counter (v1 cpuacct.usage, v2 cpu.stat usage_usec) over a short
sampling window, in cores as metrics-server reports it; memory is the working set (usage minus
inactive file cache, as cadvisor computes it). Only running containers have metrics; the
pause (holder) group is not a container and is left out, as metrics-server leaves it out.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyrunc.cli.view import add_namespace_flag, load_pod, load_pods
from pyrunc.errors import PyruncError

POD_WORDS = ("pod", "pods", "po")
SORT_KEYS = ("cpu", "memory")
# Two reads this far apart give the CPU rate; long enough for a millicore of resolution on a
# busy container, short enough for an interactive command (metrics-server's window is 10-30 s).
SAMPLE_SECONDS = 0.5
MI = 1024 * 1024
NS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    namespace: str
    pod: str
    container: str
    cpu_nanocores: int
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class Sample:
    """One container's counters at one instant (monotonic ns)."""

    cpu_usage_ns: int
    memory_working_set: int
    at_ns: int


def add_arguments(parser: Any) -> None:
    parser.add_argument("resource", choices=POD_WORDS, metavar="pod", help="pod (only pods have metrics here)")
    parser.add_argument("name", nargs="?", help="a pod name (default: every pod of the namespace)")
    add_namespace_flag(parser)
    parser.add_argument("-A", "--all-namespaces", action="store_true")
    parser.add_argument("--containers", action="store_true", help="one line per container")
    parser.add_argument("--sort-by", default="", help="cpu | memory (largest first)")
    parser.add_argument("--sum", action="store_true", help="print the sum of the resource usage")
    parser.add_argument("--no-headers", action="store_true")


# -- pure: rates and the table ------------------------------------------------------------

def cpu_rate(first: Sample, second: Sample) -> int:
    """CPU use between two samples in nanocores (CPU-ns per wall second), as metrics-server's
    usageNanoCores; 0 when the counter went backwards (the container was restarted between them)."""
    elapsed = second.at_ns - first.at_ns
    used = second.cpu_usage_ns - first.cpu_usage_ns
    if elapsed <= 0 or used <= 0:
        return 0
    return used * NS_PER_SECOND // elapsed


def cpu_text(nanocores: int) -> str:
    """kubectl's `%vm` of Quantity.MilliValue(), which rounds up: 1 nanocore shows as 1m."""
    return f"{math.ceil(nanocores / 1_000_000)}m" if nanocores > 0 else "0m"


def memory_text(nbytes: int) -> str:
    """kubectl's `%vMi` of Value()/(1024*1024): whole MiB, rounded down."""
    return f"{max(0, nbytes) // MI}Mi"


def _pod_totals(usages: Sequence[ContainerUsage]) -> dict[tuple[str, str], tuple[int, int]]:
    totals: dict[tuple[str, str], tuple[int, int]] = {}
    for u in usages:
        cpu, mem = totals.get((u.namespace, u.pod), (0, 0))
        totals[(u.namespace, u.pod)] = (cpu + u.cpu_nanocores, mem + u.memory_bytes)
    return totals


def _by(sort_by: str, cpu: int, mem: int) -> int:
    """Sort key, largest first; kubectl compares CPU in (rounded-up) millicores."""
    if sort_by == "cpu":
        return -math.ceil(cpu / 1_000_000)
    if sort_by == "memory":
        return -mem
    return 0


def top_table(
    usages: Sequence[ContainerUsage],
    *,
    containers: bool = False,
    all_namespaces: bool = False,
    no_headers: bool = False,
    sort_by: str = "",
    total: bool = False,
) -> str:
    """The `kubectl top pod` table. Pods sort by (namespace,) name, or by usage with ``sort_by``;
    a pod's figures are the sums over its containers. kubectl ends every cell with a tab, the
    last one too, so even the last column is padded. Empty input gives "" (no header)."""
    from pyrunc.printers.tabwriter import TABLE_MINWIDTH, TABLE_PADDING, tabwrite

    if not usages:
        return ""
    totals = _pod_totals(usages)

    def pod_key(key: tuple[str, str]) -> tuple[int, str, str]:
        cpu, mem = totals[key]
        return (_by(sort_by, cpu, mem), key[0] if all_namespaces else "", key[1])

    rows: list[list[str]] = []
    if not no_headers:
        rows.append((["NAMESPACE"] if all_namespaces else []) + (["POD"] if containers else [])
                    + ["NAME", "CPU(cores)", "MEMORY(bytes)"])
    lead_cells = 1 if all_namespaces else 0
    for namespace, pod in sorted(totals, key=pod_key):
        lead = [namespace] if all_namespaces else []
        if containers:
            mine = [u for u in usages if (u.namespace, u.pod) == (namespace, pod)]
            mine.sort(key=lambda u: (_by(sort_by, u.cpu_nanocores, u.memory_bytes), u.container))
            rows += [lead + [pod, u.container, cpu_text(u.cpu_nanocores), memory_text(u.memory_bytes)] for u in mine]
        else:
            cpu, mem = totals[(namespace, pod)]
            rows.append(lead + [pod, cpu_text(cpu), memory_text(mem)])
    if total:
        width = lead_cells + (1 if containers else 0) + 3
        cpu = sum(c for c, _ in totals.values())
        mem = sum(m for _, m in totals.values())
        rows.append([""] * (width - 2) + ["________", "________"])
        rows.append([""] * (width - 2) + [cpu_text(cpu), memory_text(mem)])
    text = "".join("".join(cell + "\t" for cell in cells) + "\n" for cells in rows)
    return tabwrite(text, minwidth=TABLE_MINWIDTH, padding=TABLE_PADDING)


# -- effectful: which containers run, and their counters ----------------------------------

def running_containers(pod: dict[str, Any]) -> list[str]:
    """Names of the pod's containers (sidecars included) whose process runs now."""
    status = pod.get("status") or {}
    found = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for s in status.get(key) or []:
            if "running" in (s.get("state") or {}):
                found.append(str(s["name"]))
    return found


def measure(
    driver: Any,
    targets: Sequence[tuple[str, str, str, str]],
    window: float = SAMPLE_SECONDS,
    clock: Callable[[], int] = time.monotonic_ns,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ContainerUsage]:
    """Sample every (namespace, pod, uid, container) twice, ``window`` seconds apart.

    A container whose cgroup vanished in between (it exited or its pod was deleted) is left
    out, as metrics-server leaves out containers it has no second point for.
    """
    from pyrunc.errors import CgroupError

    def sample(uid: str, name: str) -> Sample | None:
        try:
            stats = driver.stats(uid, name)
        except (CgroupError, OSError):
            return None
        return Sample(stats.cpu_usage_ns, stats.memory_working_set, clock())

    first = {t: sample(t[2], t[3]) for t in targets}
    sleep(window)
    usages = []
    for t in targets:
        before, after = first[t], sample(t[2], t[3])
        if before is None or after is None:
            continue
        usages.append(ContainerUsage(t[0], t[1], t[3], cpu_rate(before, after), after.memory_working_set))
    return usages


def run(cfg: Any, args: Any) -> int:
    from pyrunc.cgroups import detect
    from pyrunc.printers import no_resources
    from pyrunc.printers.timefmt import age

    if args.sort_by and args.sort_by not in SORT_KEYS:
        raise PyruncError(f"--sort-by accepts only cpu or memory, not {args.sort_by!r}")
    driver = detect(parent=cfg.cgroup_parent, weight_method=cfg.cpu_weight_conversion)
    if driver.version == 0:
        raise PyruncError("Metrics API not available", hint=getattr(driver, "reason", "no usable cgroups"))
    if args.name:
        pods = [load_pod(cfg, args.namespace, args.name)[1]]
    else:
        pods = load_pods(cfg, None if args.all_namespaces else args.namespace)
    targets = []
    for pod in pods:
        meta = pod["metadata"]
        for name in running_containers(pod):
            targets.append((str(meta.get("namespace") or "default"), str(meta["name"]), str(meta["uid"]), name))
    usages = measure(driver, targets) if targets else []
    if args.name and not usages:
        meta = pods[0]["metadata"]
        now = dt.datetime.now(dt.timezone.utc)
        raise PyruncError(f"Metrics not available for pod {args.namespace}/{args.name}, "
                          f"age: {age(meta.get('creationTimestamp'), now)}")
    if not usages:
        print(no_resources(None if args.all_namespaces else args.namespace), file=sys.stderr)
        return 0
    sys.stdout.write(top_table(usages, containers=args.containers, all_namespaces=args.all_namespaces,
                               no_headers=args.no_headers, sort_by=args.sort_by, total=args.sum))
    return 0
