"""pyrunc-oci beside runc and crun on the same bundle (issue 14: `run` of /bin/true and `exec` within 2x runc).

    sudo python3 bench/oci.py [--repeat 20] [--out FILE] [--no-peers] [--pyrunc-oci CMD]

Each repetition runs every runtime once, in turn (so that the noise of a shared machine falls on all of
them alike): `run --bundle B ID` of /bin/true in the foreground (create, start, wait, delete), then
`exec ID /bin/true` in a detached `sleep` container of its own. The figures are medians of wall time and
ratios against runc measured in the same run. Benchmarks are never tests: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0


def pyrunc_oci_command(given: str | None) -> list[str]:
    if given:
        return given.split()
    venv = REPO / ".venv" / "bin"
    for name in ("pyrunc-oci-launcher", "pyrunc-oci"):  # the launcher: what `make setup` links
        if (venv / name).exists():
            return [str(venv / name)]
    found = shutil.which("pyrunc-oci")
    return [found] if found else [sys.executable, "-m", "pyrunc.oci"]


def default_config(rootfs: Path, args: list[str]) -> dict:
    """runc's default config.json (pyrunc-oci writes the same one), without a terminal."""
    sys.path.insert(0, str(REPO))
    from pyrunc.oci.defaults import default_spec

    doc = default_spec()
    doc["process"]["terminal"] = False
    doc["process"]["args"] = args
    doc["root"] = {"path": str(rootfs), "readonly": True}
    return doc


def run_exactly(cmd: list[str], stdout: Any, stderr: Any) -> int:
    """The command's exit status, seen the moment it exits. Not subprocess.run(timeout=...): its wait polls
    with sleeps that double from 0.5 to 50 ms, so every duration came out as one of ~33, 65, 115, 165 ms
    (the sums of those sleeps), whatever the command really took. A pidfd wakes us at the exit."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    pidfd = os.pidfd_open(proc.pid)
    try:
        if not select.select([pidfd], [], [], TIMEOUT)[0]:
            proc.kill()
            proc.wait()
            raise subprocess.TimeoutExpired(cmd, TIMEOUT)
    finally:
        os.close(pidfd)
    return proc.wait()


class Runtime:
    def __init__(self, name: str, cmd: list[str], work: Path, rootfs: Path, run_id: str) -> None:
        self.name, self.cmd = name, cmd
        self.state = work / f"{name}-state"
        self.ids: list[str] = []
        self.prefix = f"bench-{name}-{run_id}"
        self.true_bundle = work / f"{name}-true"
        self.sleep_bundle = work / f"{name}-sleep"
        for bundle, args in ((self.true_bundle, ["/bin/true"]), (self.sleep_bundle, ["sleep", "3600"])):
            bundle.mkdir()
            (bundle / "config.json").write_text(json.dumps(default_config(rootfs, args)))
        self.run_ms: list[float] = []
        self.exec_ms: list[float] = []
        self.error = ""

    def call(self, *args: str, detached: bool = False) -> None:
        # A detached container keeps the runtime's stdout and stderr: a file, not a pipe, else no EOF.
        with tempfile.TemporaryFile() as err:
            rc = run_exactly([*self.cmd, "--root", str(self.state), *args],
                             stdout=subprocess.DEVNULL if not detached else err, stderr=err)
            if rc != 0:
                err.seek(0)
                raise RuntimeError(f"{self.name} {args[0]} exited {rc}: {err.read().decode(errors='replace')[-300:]}")

    def timed(self, samples: list[float], *args: str) -> None:
        if self.error:
            return
        start = time.perf_counter()
        try:
            self.call(*args)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            self.error = str(e)
            return
        samples.append((time.perf_counter() - start) * 1000)

    def start_sleeper(self) -> str:
        cid = f"{self.prefix}-sleep"
        self.ids.append(cid)
        self.call("run", "--detach", "--bundle", str(self.sleep_bundle), cid, detached=True)
        return cid

    def cleanup(self) -> None:
        for cid in self.ids:
            subprocess.run([*self.cmd, "--root", str(self.state), "delete", "--force", cid],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=TIMEOUT)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def report(runtimes: list[Runtime], repeat: int) -> str:
    ref = next((r for r in runtimes if r.name == "runc"), None)
    lines = ["## pyrunc-oci against runc and crun (bench/oci.py)", "",
             f"Medians of {repeat} repetitions, wall time of the whole command, same bundle (busybox rootfs, "
             "runc's default config); ratio = runtime / runc in the same run (target: pyrunc-oci <= 2x).", "",
             "| measure | runtime | median | ratio to runc |", "|---|---|---|---|"]
    for measure, attr in (("run /bin/true", "run_ms"), ("exec /bin/true", "exec_ms")):
        base = median(getattr(ref, attr)) if ref else None
        for r in runtimes:
            m = median(getattr(r, attr))
            value = f"{m:.0f} ms" if m is not None else "n/a"
            ratio = f"{m / base:.2f}" if m is not None and base else "n/a"
            lines.append(f"| {measure} | {r.name} | {value} | {ratio} |")
    errors = [f"- {r.name}: {r.error}" for r in runtimes if r.error]
    if errors:
        lines += ["", "Errors:", *errors]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--out", default="", help="write the markdown section there too")
    p.add_argument("--no-peers", action="store_true", help="pyrunc-oci only (no runc, no crun)")
    p.add_argument("--pyrunc-oci", default=None, help='the pyrunc-oci command, e.g. "pyrunc-oci"')
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("error: bench/oci.py runs containers: it needs root", file=sys.stderr)
        return 1
    run_id = f"{os.getpid()}-{int(time.time())}"
    work = Path(tempfile.mkdtemp(prefix="pyrunc-bench-oci-"))
    runtimes: list[Runtime] = []
    try:
        subprocess.run(["sh", str(REPO / "rootfs" / "busybox.sh"), str(work / "image")], check=True,
                       capture_output=True)
        rootfs = work / "image" / "rootfs"
        runtimes.append(Runtime("pyrunc-oci", pyrunc_oci_command(args.pyrunc_oci), work, rootfs, run_id))
        if not args.no_peers:
            for peer in ("runc", "crun"):
                if shutil.which(peer):
                    runtimes.append(Runtime(peer, [peer], work, rootfs, run_id))
        sleepers = {}
        for r in runtimes:
            try:
                sleepers[r.name] = r.start_sleeper()
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                r.error = str(e)
        for i in range(args.repeat):
            for r in runtimes:
                r.ids.append(f"{r.prefix}-run{i}")  # removed by run itself; by cleanup if that failed
                r.timed(r.run_ms, "run", "--bundle", str(r.true_bundle), f"{r.prefix}-run{i}")
            for r in runtimes:
                if r.name in sleepers:
                    r.timed(r.exec_ms, "exec", sleepers[r.name], "/bin/true")
        text = report(runtimes, args.repeat)
        print(text, end="")
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
        return 0 if not any(r.error for r in runtimes if r.name == "pyrunc-oci") else 1
    finally:
        for r in runtimes:
            r.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
