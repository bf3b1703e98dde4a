#!/usr/bin/env python3
"""The CPU a probe costs: pyrunc's exec and httpGet probes against `runc exec` and `podman healthcheck run`.

    sudo python3 bench/probe_cost.py [--pods 4] [--seconds 20] [--execs 30]
    (also: sudo python3 bench/run.py --only probes)

pyrunc: the supervisor hands every probe to its action spawner, which forks it (probe/spawner.py; an exec
probe's joiner and command are that fork's children), so a probe's CPU is the supervisor's own, the
spawner's and their reaped children's (utime + stime + cutime + cstime of /proc/PID/stat) over a window,
less what the same supervisor spends in the same window with the same pods without probes, divided by the
probes run (pods x seconds / period). The "supervisor's share" rows count the supervisor process alone
(utime + stime): the CPU its single-threaded loop spends per probe.
runc: `runc exec CONTAINER /bin/true`, the CPU of this process's reaped children per exec. podman:
`podman healthcheck run` of a `/bin/true` health command, the same way; this process is a child subreaper
for it, so that conmon (which daemonises) is counted too. Every figure is from one run, same busybox image.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 (bench/run.py: the pyrunc, runc and podman sides)

HTTPD = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
PR_SET_CHILD_SUBREAPER = 36


def probe_pod(name: str, image: str, kind: str) -> str:
    """One container with a readiness probe every second (kind "exec", "http"), or none ("none")."""
    probe: dict[str, object] = {"periodSeconds": 1, "timeoutSeconds": 5}
    if kind == "exec":
        probe["exec"] = {"command": ["/bin/true"]}
    elif kind == "http":
        probe["httpGet"] = {"path": "/", "port": 8080}
    container: dict[str, object] = {"name": "c", "image": image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["sh", "-c", HTTPD]}
    if kind != "none":
        container["readinessProbe"] = probe
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"containers": [container]}})


def supervisor_cpu(pid: int) -> float:
    """Seconds of CPU of the supervisor and of its reaped children, plus its action spawner's and the spawner's
    reaped children's (the probe forks: pyrunc/probe/spawner.py)."""
    return sum(_cpu(p) for p in [pid, *spawners(pid)])


def own_cpu(pid: int) -> float:
    """The supervisor process alone (utime + stime)."""
    return _cpu(pid, children=False)


def _cpu(pid: int, children: bool = True) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # utime stime (cutime cstime)
    return sum(int(v) for v in fields[11:15 if children else 13]) / os.sysconf("SC_CLK_TCK")


def spawners(daemon: int) -> list[int]:
    """The supervisor's children that are action spawners (named "pyrunc-spawner")."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                comm, rest = f.read().split(" (", 1)[1].rsplit(")", 1)
            if int(rest.split()[1]) == daemon and comm == "pyrunc-spawner":
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ready(side: bench.Pyrunc, name: str) -> bool:
    pod = json.loads(side.cli("get", "pod", name, "-o", "json"))
    return all(s.get("ready") for s in pod.get("status", {}).get("containerStatuses") or [{}])


def pyrunc_probes(side: bench.Pyrunc, run_id: str, kind: str, pods: int,
                  seconds: float) -> tuple[float, float, int]:
    """(CPU seconds of the supervisor and its helpers, of the supervisor process alone, over the window; probes
    run in it) with `pods` pods probing as `kind`."""
    names = [f"pp{run_id}-{kind}-{i}" for i in range(pods)]
    for name in names:
        path = side.manifests / f"{name}.json"
        path.write_text(probe_pod(name, side.image, kind))
        side.created.append(name)
        side.cli("apply", "-f", str(path))
    for name in names:
        bench.wait_until(lambda n=name: ready(side, n), f"pod {name} ready")  # type: ignore[misc]
    with open(os.path.join(side.root, "daemon.json"), encoding="utf-8") as f:
        daemon = int(json.load(f)["pid"])
    time.sleep(2.0)  # past the start-up of the pods
    before, own_before, start = supervisor_cpu(daemon), own_cpu(daemon), time.monotonic()
    time.sleep(seconds)
    used, own, elapsed = supervisor_cpu(daemon) - before, own_cpu(daemon) - own_before, time.monotonic() - start
    for name in names:
        side.delete(name)
    return used, own, (0 if kind == "none" else int(pods * elapsed))  # one probe per pod per second


def per_exec(fn: object, count: int) -> float:
    before = children_cpu()
    for _ in range(count):
        fn()  # type: ignore[operator]
    return (children_cpu() - before) / count


def podman_healthcheck(work: Path, run_id: str, rootfs: Path, count: int) -> float:
    peer = bench.Podman(work, run_id, rootfs)
    name = f"pb{run_id}-health"
    try:
        peer.podman("run", "-d", "--name", name, "--network", "none", "--health-cmd", "/bin/true",
                    "--health-interval", "disable", peer.image, "sleep", "3600")
        peer.podman("healthcheck", "run", name)  # warm-up
        return per_exec(lambda: peer.podman("healthcheck", "run", name), count)
    finally:
        bench.quiet(["podman", *peer.runtime, "rm", "-f", "-t", "0", name], env=peer.env)
        bench.quiet(["podman", "rmi", "-f", peer.image], env=peer.env)


def measure(pods: int, seconds: float, execs: int, pyrunc_cmd: list[str] | None = None) -> dict[str, float]:
    """CPU milliseconds per probe or exec, each side measured in this run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # podman's conmon daemonises: its CPU comes back to us
    run_id = f"{os.getpid():x}"
    cmd = pyrunc_cmd or bench.pyrunc_command(None)
    work = Path(tempfile.mkdtemp(prefix=f"pyrunc-probes-{run_id}-", dir="/var/tmp"))
    image = work / "busybox"
    out: dict[str, float] = {}
    side = oci = None
    try:
        bench.run(["sh", str(bench.REPO / "rootfs" / "busybox.sh"), str(image)])
        bench.run([*cmd, "--root", str(work / "import-root"), "image", "import", "-q", str(image / "rootfs.tar"),
                   bench.BUSYBOX, "--change", f"ENV {bench.PATH_ENV}", "--change", "WORKDIR /"],
                  env={**os.environ, "PYRUNC_IMAGES": str(work / "images")})
        side = bench.Pyrunc(cmd, work, run_id)
        # A subnet of its own (bench/run.py may run beside it) and a supervisor that stays between the phases.
        with open(os.path.join(side.root, "config.json"), "w", encoding="utf-8") as f:
            json.dump({"bridge": side.bridge, "pod_subnet": f"10.79.{os.getpid() % 250}.0/24", "offline": True,
                       "daemon_linger": 60}, f)
        idle, idle_own, _ = pyrunc_probes(side, run_id, "none", pods, seconds)
        for kind in ("exec", "http"):
            used, own, probes = pyrunc_probes(side, run_id, kind, pods, seconds)
            out[f"pyrunc {kind} probe"] = 1000 * max(0.0, used - idle) / probes
            out[f"pyrunc {kind} probe: the supervisor's share"] = 1000 * max(0.0, own - idle_own) / probes
        oci = bench.OciRuntime("runc", work, run_id, image / "rootfs")
        oci.start()
        oci.exec_true()
        out["runc exec"] = 1000 * per_exec(oci.exec_true, execs)
        out["podman healthcheck run"] = 1000 * podman_healthcheck(work, run_id, image / "rootfs", execs)
        out["pyrunc idle supervisor per second"] = 1000 * idle / seconds
    finally:
        if oci is not None:
            oci.cleanup()
        if side is not None:
            side.cleanup()
        if any(f" {work}" in line for line in open("/proc/self/mountinfo", encoding="utf-8")):
            print(f"mounts left under {work}; not removing it", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return out


def table(cpu: dict[str, float]) -> str:
    runc = cpu.get("runc exec")
    lines = ["| measure (CPU per probe or exec) | ms | ratio to runc exec |", "|---|---|---|"]
    for what, ms in cpu.items():
        if what.endswith("per second"):
            continue
        lines.append(f"| {what} | {ms:.1f} | {ms / runc:.2f}x |" if runc else f"| {what} | {ms:.1f} | n/a |")
    lines.append(f"\nThe supervisor with the same pods and no probes: {cpu.get('pyrunc idle supervisor per second', 0):.1f}"
                 " ms of CPU per second (subtracted).")
    return "\n".join(lines)


BEGIN = "<!-- probe cost: made by `bench/run.py --only probes` (bench/probe_cost.py) -->"
END = "<!-- end of the probe cost -->"


def section(cpu: dict[str, float], pods: int, seconds: float, execs: int) -> str:
    return "\n".join([
        BEGIN, "## CPU per probe", "",
        f"Made by `sudo python3 bench/run.py --only probes` (bench/probe_cost.py): {pods} pods probing once a second "
        f"for {seconds:.0f} s per kind (the supervisor's CPU and its reaped children's, less the same pods' without "
        f"probes), {execs} `runc exec` and `podman healthcheck run` of `/bin/true`, the same busybox image.", "",
        table(cpu), END, ""])


def write_section(out: str, pods: int = 4, seconds: float = 20.0, execs: int = 30) -> int:
    """`bench/run.py --only probes`: measure, print, and put the section into `out` (replacing its old one)."""
    text = section(measure(pods, seconds, execs), pods, seconds, execs)
    print(text)
    path = Path(out)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    path.write_text(new, encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=4, help="pods probing at once (one probe per second each)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window per kind of probe")
    parser.add_argument("--execs", type=int, default=30, help="runc execs and podman healthchecks")
    parser.add_argument("--pyrunc", help="pyrunc command (default: as bench/run.py)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/probe_cost.py: must run as root", file=sys.stderr)
        return 1
    cpu = measure(args.pods, args.seconds, args.execs, args.pyrunc.split() if args.pyrunc else None)
    print(table(cpu))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
