#!/usr/bin/env python3
"""Time `pyrunc exec POD -- /bin/true` against `runc exec` of the same command, in one run.

    sudo python3 bench/exec_time.py [--rounds 20] [--pyrunc "CMD"] [-- extra pyrunc exec words]

One pyrunc pod (bench/run.py's two-container pod) and one detached runc container from the same busybox
rootfs; then rounds of pyrunc exec (handed to the supervisor, and in process with
PYRUNC_EXEC_IN_PROCESS=1) and runc exec, alternating so that all see the same load.
Prints the medians, minimums and their ratio. A focused measure for profiling the exec path; bench/run.py
has the same row in its report. Plain python3, as root; everything it makes is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 (bench/run.py: the pyrunc and OCI runtime sides)


def daemon_pid(root: str) -> int:
    with open(os.path.join(root, "daemon.json"), encoding="utf-8") as f:
        return int(json.load(f)["pid"])


def cpu_seconds(supervisor: int) -> float:
    """CPU (user + system) of this process's reaped children and of the supervisor and its reaped children:
    an exec's cost wherever it runs (the command's own process tree, or the supervisor's exec child)."""
    mine = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(f"/proc/{supervisor}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime (fields 14-17 of proc(5))
    return mine.ru_utime + mine.ru_stime + ticks / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pyrunc", help='pyrunc command (default: the repo venv, then PATH)')
    parser.add_argument("--runtime", default="runc", help="the OCI runtime beside it (runc or crun)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/exec_time.py: must run as root", file=sys.stderr)
        return 1
    run_id = f"{os.getpid():x}"
    cmd = bench.pyrunc_command(args.pyrunc)
    work = Path(tempfile.mkdtemp(prefix=f"pyrunc-exec-{run_id}-", dir="/var/tmp"))
    image = work / "busybox"
    ours = oci = None
    try:
        bench.run(["sh", str(bench.REPO / "rootfs" / "busybox.sh"), str(image)])
        bench.run([*cmd, "--root", str(work / "import-root"), "image", "import", "-q", str(image / "rootfs.tar"),
                   bench.BUSYBOX, "--change", f"ENV {bench.PATH_ENV}", "--change", "WORKDIR /"],
                  env={**os.environ, "PYRUNC_IMAGES": str(work / "images")})
        ours = bench.Pyrunc(cmd, work, run_id)
        # A subnet of its own: bench/run.py may be running beside it with 10.77.0.0/24.
        with open(os.path.join(ours.root, "config.json"), "w", encoding="utf-8") as f:
            json.dump({"bridge": ours.bridge, "pod_subnet": f"10.78.{os.getpid() % 250}.0/24", "offline": True}, f)
        name = f"pe{run_id}"
        ours.start(name)
        oci = bench.OciRuntime(args.runtime, work, run_id, image / "rootfs")
        oci.start()
        ours.exec_true(name)  # warm-up: page cache, .pyc files
        oci.exec_true()
        supervisor = daemon_pid(ours.root)
        handed_env = dict(ours.env)
        here_env = {**ours.env, "PYRUNC_EXEC_IN_PROCESS": "1"}
        sides = {"handed to the supervisor": (lambda: ours.exec_true(name), handed_env),
                 "in process": (lambda: ours.exec_true(name), here_env),
                 f"{args.runtime} exec": (oci.exec_true, handed_env)}
        script = bench.REPO / ".venv" / "bin" / "pyrunc"  # pip's console script (site, `import re`), handed over
        if cmd != [str(script)] and script.exists():
            console = bench.Pyrunc.__new__(bench.Pyrunc)
            console.__dict__.update(ours.__dict__, cmd=[str(script)])
            sides["pip's console script"] = (lambda: console.exec_true(name), handed_env)
        times: dict[str, list[float]] = {k: [] for k in sides}
        cpu: dict[str, list[float]] = {k: [] for k in sides}
        for _ in range(args.rounds):
            for what, (fn, env) in sides.items():
                ours.env = env
                before = cpu_seconds(supervisor)
                times[what].append(bench.timed(fn))
                cpu[what].append(cpu_seconds(supervisor) - before)
        ours.env = handed_env
        peer, peer_cpu = times[f"{args.runtime} exec"], cpu[f"{args.runtime} exec"]
        for what, values in times.items():
            # CPU as a mean: the supervisor's share comes in clock ticks (10 ms), a median of them would round.
            med, low, c = statistics.median(values), min(values), statistics.fmean(cpu[what])
            print(f"{what:26s} wall median {med * 1000:6.1f} ms (min {low * 1000:5.1f})  cpu mean {c * 1000:5.1f} ms"
                  f"  | ratio to {args.runtime}: wall median {med / statistics.median(peer):.2f}x"
                  f" (min {low / min(peer):.2f}x), cpu {c / statistics.fmean(peer_cpu):.2f}x")
        print(f"({args.rounds} rounds, pyrunc: {' '.join(cmd)}; cpu: user+system of the command's process tree and"
              f" of the supervisor's exec child, which the supervisor reaps)")
    finally:
        if oci is not None:
            oci.cleanup()
        if ours is not None:
            ours.cleanup()
        if any(f" {work}" in line for line in open("/proc/self/mountinfo", encoding="utf-8")):
            print(f"mounts left under {work}; not removing it", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
