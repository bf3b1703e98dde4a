"""The scale measure of bench/run.py: N pods with a probe each, beside podman at the same count.

    sudo python3 bench/run.py --only scale [--scale-pods 200] [--idle 60] [--repeat 5]

Plain python3, as bench/run.py (which passes its Pyrunc and Podman sides in). Each pod is the
bench's two-container pod whose server has a probe running `/bin/true` every 10 s: a
readinessProbe for pyrunc (an exec probe run by its supervisor), a livenessProbe for podman (podman
4.3 `kube play` turns it into a healthcheck with the same command and interval; readinessProbe it
ignores). Per side:

- **up**: the pods applied one after another, each until it runs, then until every pod is ready
  (pyrunc; podman has no readiness);
- **get**: the pod listing with every pod up (`pyrunc get pods`, `podman ps`), `repeat` times;
- **idle CPU**: the runtime's CPU over `idle` seconds with nothing happening but the probes, in % of
  one core, from /proc/PID/stat (utime+stime+cutime+cstime). pyrunc: its supervisor, whose reaped
  children are the probe processes. podman: every conmon and catatonit of the pods, plus the
  `podman healthcheck run` processes. Podman schedules healthchecks with systemd timers; this
  machine kind has no systemd as PID 1 (podman logs "unable to get systemd connection to add
  healthchecks" and runs none), so this module does what the timer would: `podman healthcheck run`
  for each pod every 10 s (up to 4 at a time), and counts their CPU through RUSAGE_CHILDREN. The
  conmon and runc that a healthcheck's exec starts are re-parented away from it and not counted:
  podman's figure is a lower bound;
- **RSS/PSS**: of the same processes (smaps_rollup), with every pod up;
- **down**: every pod deleted in one command (`pyrunc delete pods --all`, `podman pod rm -f` with
  every name, then its volumes), until the command returns;
- **left**: what is still on the host afterwards (processes, mounts, cgroups, veths, leases, files
  of the run's pyrunc root; podman's pods and volumes of the run).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BEGIN = "<!-- scale measure: made by `bench/run.py --only scale`, replaced by it -->"
END = "<!-- end of the scale measure -->"
PROBE_PERIOD = 10  # seconds, both sides
HEALTHCHECKS_AT_ONCE = 4
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class ScaleSide:
    """One side's figures; `error` is the first failure (the cells after it read n/a)."""

    pods: int = 0  # pods that came up
    up_s: float | None = None
    ready_s: float | None = None  # until every pod was ready (pyrunc)
    get_s: list[float] = field(default_factory=list)
    cpu_pct: float | None = None  # % of one core while idle
    cpu_note: str = ""
    rss_mib: float | None = None
    pss_mib: float | None = None
    processes: int = 0
    down_s: float | None = None
    left: list[str] = field(default_factory=list)
    error: str = ""

    def get_median(self) -> float | None:
        return sorted(self.get_s)[len(self.get_s) // 2] if self.get_s else None


def probe_manifest(base: str, peer: bool) -> str:
    """The bench pod (bench/run.py's pod_manifest) with a probe on its server container."""
    pod = json.loads(base)
    probe = {"exec": {"command": ["/bin/true"]}, "periodSeconds": PROBE_PERIOD}
    pod["spec"]["containers"][0]["livenessProbe" if peer else "readinessProbe"] = probe
    return json.dumps(pod, indent=1)


def cpu_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of one process (its reaped children included), 0 once gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(v) for v in fields[11:15])  # fields 14-17 of proc(5), after pid and comm


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """(Rss, Pss) in KiB summed over pids (smaps_rollup)."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path + "/")]


# --------------------------------------------------------------------------- pyrunc


def _all_ready(side: Any, pods: int) -> bool:
    lines = side.cli("get", "pods", "--no-headers").splitlines()
    return len(lines) == pods and all(line.split()[1] == "2/2" for line in lines)


def pyrunc_left(side: Any) -> list[str]:
    """What the run's pyrunc root left on the host once its pods are deleted (the tests' leak check)."""
    left = []
    root = Path(side.root)
    for sub in ("pods", "network/leases", "cgroups"):
        where = root / sub
        if where.is_dir() and any(where.iterdir()):
            left.append(f"{sub}: {len(list(where.iterdir()))} entries")
    if _mounts_under(side.root):
        left.append(f"mounts: {len(_mounts_under(side.root))}")
    brif = Path("/sys/class/net", side.bridge, "brif")
    if brif.is_dir() and any(brif.iterdir()):
        left.append(f"veths on {side.bridge}: {len(list(brif.iterdir()))}")
    if Path("/sys/class/net", side.bridge).exists():
        left.append(f"bridge {side.bridge}")
    if side.helper_pids():
        left.append(f"pyrunc processes: {side.helper_pids()}")
    return left


def scale_pyrunc(side: Any, prefix: str, pods: int, repeat: int, idle: float, manifest: Callable[[str], str],
                 wait: Callable[[Callable[[], bool], str], None]) -> ScaleSide:
    out = ScaleSide()
    try:
        start = time.perf_counter()
        for i in range(pods):
            name = f"{prefix}-{i}"
            path = side.manifests / f"{name}.json"
            path.write_text(probe_manifest(manifest(name), peer=False))
            side.created.append(name)
            side.cli("apply", "-f", str(path))
            wait(lambda: side.running(name), f"pyrunc pod {name} to run")
            out.pods = i + 1
        out.up_s = time.perf_counter() - start
        wait(lambda: _all_ready(side, pods), f"{pods} pyrunc pods to be ready")
        out.ready_s = time.perf_counter() - start
        side.cli("get", "pods")  # warm-up
        out.get_s = [_timed(lambda: side.cli("get", "pods")) for _ in range(repeat)]
        supervisor = side.helper_pids()
        out.processes = len(supervisor)
        rss, pss = memory_kib(supervisor)
        out.rss_mib, out.pss_mib = rss / 1024, pss / 1024
        before = sum(cpu_ticks(pid) for pid in supervisor)
        time.sleep(idle)
        after = sum(cpu_ticks(pid) for pid in supervisor)
        out.cpu_pct = 100.0 * (after - before) / CLK_TCK / idle
        out.cpu_note = f"{pods} exec probes every {PROBE_PERIOD} s"
        out.down_s = _timed(lambda: side.cli("delete", "pods", "--all"))
        side.created.clear()
        # The supervisor lingers (daemon_linger, 10 s) after its last pod; then nothing may be left.
        deadline = time.monotonic() + 30
        while pyrunc_left(side) and time.monotonic() < deadline:
            time.sleep(0.5)
        out.left = pyrunc_left(side)
    except Exception as e:  # noqa: BLE001 - the run.py BenchError and the like: one line for the report
        out.error = str(e)
    return out


# --------------------------------------------------------------------------- podman


class HealthcheckTimer:
    """What podman's systemd timers would do: `podman healthcheck run CTR` every period per container."""

    def __init__(self, podman: list[str], env: dict[str, str], containers: list[str]) -> None:
        self.podman, self.env, self.containers = podman, env, containers
        self.due = [time.monotonic() + PROBE_PERIOD * i / max(1, len(containers)) for i in range(len(containers))]
        self.running: list[subprocess.Popen[bytes]] = []
        self.done = self.failed = self.late = 0

    def run_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._reap()
            now = time.monotonic()
            for i, due in enumerate(self.due):
                if due <= now and len(self.running) < HEALTHCHECKS_AT_ONCE:
                    if now - due > PROBE_PERIOD:
                        self.late += 1
                    self.due[i] = max(due + PROBE_PERIOD, now)
                    self.running.append(subprocess.Popen(
                        [*self.podman, "healthcheck", "run", self.containers[i]], env=self.env,
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.01)
        for proc in self.running:
            proc.wait()
        self._reap()

    def _reap(self) -> None:
        for proc in [p for p in self.running if p.poll() is not None]:
            self.running.remove(proc)
            self.done += 1
            self.failed += proc.returncode != 0


def podman_left(side: Any, prefix: str) -> list[str]:
    left = []
    pods = side.podman("pod", "ps", "-q", "--filter", f"name={prefix}-").split()
    if pods:
        left.append(f"podman pods: {len(pods)}")
    volumes = side.podman("volume", "ls", "-q", "--filter", f"name={prefix}-").split()
    if volumes:
        left.append(f"podman volumes: {len(volumes)}")
    return left


def scale_podman(side: Any, prefix: str, pods: int, repeat: int, idle: float, manifest: Callable[[str], str],
                 wait: Callable[[Callable[[], bool], str], None]) -> ScaleSide:
    out = ScaleSide()
    try:
        start = time.perf_counter()
        for i in range(pods):
            name = f"{prefix}-{i}"
            path = side.manifests / f"{name}.json"
            path.write_text(probe_manifest(manifest(name), peer=True))
            side.created.append(name)
            try:
                side.podman("kube", "play", str(path))
                wait(lambda: side.running(name), f"podman pod {name} to run")
            except Exception as e:  # noqa: BLE001 - the rest is measured at the count it reached
                out.error = f"pod {i + 1} of {pods}: {e}"
                if not out.pods:
                    raise
                break
            out.pods = i + 1
        out.up_s = time.perf_counter() - start if out.pods == pods else None
        side.podman("ps")  # warm-up
        out.get_s = [_timed(lambda: side.podman("ps")) for _ in range(repeat)]
        helpers = side.helper_pids()
        out.processes = len(helpers)
        rss, pss = memory_kib(helpers)
        out.rss_mib, out.pss_mib = rss / 1024, pss / 1024
        timer = HealthcheckTimer(["podman", *side.runtime], side.env, [f"{p}-web" for p in side.created])
        before, before_children = sum(cpu_ticks(pid) for pid in helpers), _children_cpu()
        timer.run_for(idle)
        after, after_children = sum(cpu_ticks(pid) for pid in helpers), _children_cpu()
        out.cpu_pct = 100.0 * ((after - before) / CLK_TCK + after_children - before_children) / idle
        expected = int(pods * idle / PROBE_PERIOD)
        out.cpu_note = (f"`podman healthcheck run` {timer.done} times of the {expected} due "
                        f"({timer.failed} failed, {timer.late} more than a period late)")
        names = list(side.created)
        out.down_s = _timed(lambda: (side.podman("pod", "rm", "-f", *names),
                                     side.podman("volume", "rm", "-f", *[f"{n}-data" for n in names])))
        side.created.clear()
        out.left = podman_left(side, prefix)
    except Exception as e:  # noqa: BLE001 - one line for the report
        out.error = out.error or str(e)
    return out


# --------------------------------------------------------------------------- report


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:.0f} ms"


def _s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} s"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}x"


def section(ours: ScaleSide, peer: ScaleSide, pods: int, idle: float, repeat: int, facts: dict[str, str],
            peer_name: str = "podman") -> str:
    """The markdown section (between BEGIN and END) for docs/benchmarks.md."""
    podman_count = f" (podman reached {peer.pods})" if peer.pods and peer.pods < pods else ""
    met_get = "n/a" if ours.get_median() is None else ("yes" if ours.get_median() <= 0.15 else "no")
    rows = [
        ("pods up, one after another", _s(ours.up_s), _s(peer.up_s), _ratio(ours.up_s, peer.up_s), "-", "n/a"),
        ("get pods (podman ps)", _ms(ours.get_median()), _ms(peer.get_median()),
         _ratio(ours.get_median(), peer.get_median()), "≤ 0.15 s", met_get),
        (f"idle CPU, % of a core over {idle:.0f} s",
         "n/a" if ours.cpu_pct is None else f"{ours.cpu_pct:.1f} %",
         "n/a" if peer.cpu_pct is None else f"{peer.cpu_pct:.1f} %", _ratio(ours.cpu_pct, peer.cpu_pct), "-", "n/a"),
        ("runtime RSS", "n/a" if ours.rss_mib is None else f"{ours.rss_mib:.1f} MiB",
         "n/a" if peer.rss_mib is None else f"{peer.rss_mib:.1f} MiB", _ratio(ours.rss_mib, peer.rss_mib), "-", "n/a"),
        ("runtime PSS", "n/a" if ours.pss_mib is None else f"{ours.pss_mib:.1f} MiB",
         "n/a" if peer.pss_mib is None else f"{peer.pss_mib:.1f} MiB", _ratio(ours.pss_mib, peer.pss_mib), "-", "n/a"),
        ("all pods down (one command)", _s(ours.down_s), _s(peer.down_s), _ratio(ours.down_s, peer.down_s), "-",
         "n/a"),
        ("left on the host afterwards", "; ".join(ours.left) or ("nothing" if ours.down_s is not None else "n/a"),
         "; ".join(peer.left) or ("nothing" if peer.down_s is not None else "n/a"), "-", "nothing",
         "yes" if ours.down_s is not None and not ours.left else "no"),
    ]
    lines = [BEGIN, f"## {pods} pods with an exec probe each{podman_count}", "",
             f"Made by `sudo python3 bench/run.py --only scale --scale-pods {pods} --idle {idle:.0f} --repeat {repeat}`"
             " (not part of the default run: it takes several minutes). Each pod: the bench's 2-container pod, its server"
             f" probed with `/bin/true` every {PROBE_PERIOD} s (pyrunc: an exec readinessProbe; podman: a livenessProbe,"
             " which `kube play` turns into a healthcheck, run by this bench as systemd's timer would). Both sides in"
             " the same run, on the same image; bench/scale.py says how each figure is taken.", "",
             f"| {pods} pods | pyrunc | {peer_name} | ratio | target | met |", "|---|---|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    lines += ["", f"- pyrunc: {ours.pods} pods up; every pod ready after {_s(ours.ready_s)}; {ours.processes}"
              f" resident runtime process(es); idle: {ours.cpu_note or 'n/a'}.",
              f"- {peer_name}: {peer.pods} pods up; {peer.processes} resident runtime processes (conmon, catatonit);"
              f" idle: {peer.cpu_note or 'n/a'}."]
    for who, side in (("pyrunc", ours), (peer_name, peer)):
        if side.error:
            lines.append(f"- {who} failed: {side.error}")
    facts_md = "\n".join(f"- {k}: {v}" for k, v in facts.items() if k not in ("runc", "crun", "skopeo"))
    lines += ["", "Machine for this section:", "", facts_md, END, ""]
    return "\n".join(lines)


def merge_section(existing: str, new_section: str) -> str:
    """The report with its scale section replaced (or appended when it has none)."""
    if BEGIN in existing and END in existing:
        head, rest = existing.split(BEGIN, 1)
        return head + new_section.rstrip("\n") + rest.split(END, 1)[1]
    return existing.rstrip("\n") + "\n\n" + new_section


def kept_section(existing: str) -> str:
    """The scale section of an existing report (a full run rewrites the report but keeps it), or ''."""
    if BEGIN in existing and END in existing:
        return BEGIN + existing.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"
    return ""


def raw(side: ScaleSide) -> dict[str, object]:
    return {k: getattr(side, k) for k in side.__slots__}  # type: ignore[attr-defined]
