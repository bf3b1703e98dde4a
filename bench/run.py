#!/usr/bin/env python3
"""Benchmark pyrunc against podman, runc and crun in one run; report ratios.

    sudo bench/setup.sh                      # once: installs podman/runc/crun, moves hugetlb
    sudo python3 bench/run.py [--pods 20] [--repeat 5] [--out docs/benchmarks.md] [--only pods|pull|probes|scale]
    sudo python3 bench/run.py --only scale [--scale-pods 200] [--idle 60]   # minutes: not in the default run
    python3 bench/run.py --only pods --no-peers --pods 2 --repeat 1          # pyrunc only (the CI smoke run)

Plain python3 (no third-party modules), run as root. Every pod, container and image it
creates carries a unique run id and is removed by name in a finally block. The pyrunc
side uses only the CLI contract; when pyrunc fails, its cells read "n/a" and the reason
is printed, and the peers are still measured. The podman workarounds (hybrid cgroups, rlimits,
import without PATH, shared emptyDirs) are explained where they are made, in bench/setup.sh and below.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import pull  # noqa: E402 (bench/pull.py: the pull measure, beside this file)
import scale  # noqa: E402 (bench/scale.py: the scale measure)

BUSYBOX = "docker.io/library/busybox:latest"
CMD_TIMEOUT = 120.0
READY_TIMEOUT = 60.0
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# PID 1 ignores a SIGTERM it has no handler for, so a bare `sleep 3600` would make both
# runtimes wait out their grace period; with a trap, delete measures the runtime, not a timer.
WEB_SCRIPT = "trap 'exit 0' TERM; sleep 3600 & wait"
LOGGER_SCRIPT = "trap 'exit 0' TERM; while true; do date >> /data/log; sleep 1 & wait $!; done"


class BenchError(Exception):
    """One side of a measurement failed; the message is one line for the report."""


@dataclass(frozen=True, slots=True)
class Row:
    measure: str
    ours: str  # "pyrunc" or the name of a runtime measured in its place
    ours_s: float | None  # seconds, or MiB for PSS rows
    peer: str
    peer_s: float | None
    unit: str  # "s" or "MiB"
    target: str
    limit: float | None  # the ratio (or absolute value for get) the issue asks for
    absolute: bool = False  # target is on the pyrunc value itself, not the ratio
    note: str = ""

    def ratio(self) -> float | None:
        if self.ours_s is None or not self.peer_s:
            return None
        return self.ours_s / self.peer_s

    def met(self) -> str:
        value = self.ours_s if self.absolute else self.ratio()
        if value is None or self.limit is None:
            return "n/a"
        return "yes" if value <= self.limit else "no"


# Timings of one side of one measure; the first error stops that side (the pull measure's record).
Samples = pull.Timings


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = CMD_TIMEOUT) -> str:
    """Run a command; return stdout, raise BenchError with the last stderr line on failure."""
    try:
        proc = subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        # not str(e): it spells out the whole command line (200 pod names for a `pod rm`)
        more = f" (and {len(cmd) - 4} more arguments)" if len(cmd) > 4 else ""
        raise BenchError(f"{' '.join(cmd[:4])}{more}: did not end within the bench's {timeout:.0f} s command timeout"
                         ) from None
    except OSError as e:
        raise BenchError(f"{' '.join(cmd[:4])}: {e}") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise BenchError(f"{' '.join(cmd[:4])} exited {proc.returncode}: {lines[-1] if lines else ''}")
    return proc.stdout


def quiet(cmd: list[str], env: dict[str, str] | None = None) -> None:
    """Best-effort cleanup step: never raises."""
    try:
        subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=CMD_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out waiting for {what}")
        time.sleep(0.005)


def pod_manifest(name: str, image: str) -> str:
    """The examples/ sidecar pair: a long-running server and a logger sharing an emptyDir.

    The volume name is unique per pod: podman 4.3 turns an emptyDir into a named volume
    called by its YAML name, shared by every pod that uses the same name.
    """
    volume = f"{name}-data"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "containers": [
                    # IfNotPresent: the image is in the store already; Always (the default for
                    # :latest) would ask its registry, and the bench never leaves loopback.
                    {"name": "web", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", WEB_SCRIPT],
                     "volumeMounts": [{"name": volume, "mountPath": "/data"}]},
                    {"name": "logger", "image": image, "imagePullPolicy": "IfNotPresent",
                     "command": ["sh", "-c", LOGGER_SCRIPT],
                     "volumeMounts": [{"name": volume, "mountPath": "/data"}]},
                ],
                "volumes": [{"name": volume, "emptyDir": {}}],
            },
        },
        indent=1,
    )


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            continue  # exited meanwhile
    return total


def processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (ppid, comm, cmdline) for every process now."""
    result = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        result[int(entry)] = (ppid, comm, cmdline)
    return result


def references(pid: int, root: str) -> bool:
    """True when the process's cmdline, cwd or an open fd is under root."""
    try:
        if root in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            return True
        if os.readlink(f"/proc/{pid}/cwd").startswith(root):
            return True
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(root) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


# --------------------------------------------------------------------------- pyrunc


class Pyrunc:
    """The CLI contract: apply / get / exec / delete against a private --root."""

    def __init__(self, cmd: list[str], work: Path, run_id: str, subnet: str = "10.77.0.0/24") -> None:
        self.cmd = cmd
        self.root = str(work / "pyrunc-root")
        self.bridge = f"pyrb{run_id}"[:15]
        self.env = {**os.environ, "PYRUNC_IMAGES": str(work / "images")}
        self.manifests = work / "pyrunc-manifests"
        self.manifests.mkdir()
        os.makedirs(self.root)
        # A bridge and subnet of its own, so the run touches no pyrunc0 in use on the host; offline:
        # no registry but loopback ones is ever contacted.
        with open(os.path.join(self.root, "config.json"), "w", encoding="utf-8") as f:
            json.dump({"bridge": self.bridge, "pod_subnet": subnet, "offline": True}, f)
        self.created: list[str] = []
        self.image = "busybox"

    def cli(self, *args: str) -> str:
        return run([*self.cmd, "--root", self.root, *args], env=self.env)

    def running(self, name: str) -> bool:
        pod = json.loads(self.cli("get", "pod", name, "-o", "json"))
        statuses = pod.get("status", {}).get("containerStatuses") or []
        return len(statuses) == 2 and all("running" in (s.get("state") or {}) for s in statuses)

    def start(self, name: str) -> None:
        path = self.manifests / f"{name}.json"
        path.write_text(pod_manifest(name, self.image))
        self.created.append(name)
        out = self.cli("apply", "-f", str(path))
        if f"pod/{name} created" not in out:
            raise BenchError(f"apply printed {out.strip()!r}, expected 'pod/{name} created'")
        wait_until(lambda: self.running(name), f"pyrunc pod {name} to run")

    def delete(self, name: str) -> None:
        self.cli("delete", "pod", name)
        self.created.remove(name)

    def exec_true(self, name: str) -> None:
        self.cli("exec", name, "-c", "web", "--", "/bin/true")

    def get(self) -> None:
        self.cli("get", "pods")

    def helper_pids(self) -> list[int]:
        """Processes whose cmdline contains "pyrunc" and that belong to this run's root.

        Container processes have exec'd their own command by then, so "pyrunc" in the
        cmdline leaves them out; belonging (root path in cmdline, cwd or an open fd, or a
        pyrunc parent that does) keeps out pyrunc processes of other roots on the host.
        """
        procs = processes()
        mine = {pid for pid, (_, _, cmd) in procs.items() if "pyrunc" in cmd and references(pid, self.root)}
        mine.discard(os.getpid())
        changed = True
        while changed:
            changed = False
            for pid, (ppid, _, cmd) in procs.items():
                if pid not in mine and ppid in mine and "pyrunc" in cmd:
                    mine.add(pid)
                    changed = True
        return sorted(mine)

    def cleanup(self) -> None:
        for name in list(self.created):
            try:
                self.delete(name)
            except BenchError as e:
                print(f"cleanup: pyrunc delete pod {name}: {e}", file=sys.stderr)
        quiet(["ip", "link", "del", self.bridge])
        # The daemon is expected to exit with its last pod; one that lingers belongs to this
        # run's private root, so stop it by pid rather than leave it running.
        deadline = time.monotonic() + 5.0
        while self.helper_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.helper_pids():
            print(f"cleanup: pyrunc process {pid} still running for {self.root}; sending SIGTERM", file=sys.stderr)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


# --------------------------------------------------------------------------- podman


class Podman:
    def __init__(self, work: Path, run_id: str, rootfs: Path) -> None:
        conf = work / "containers.conf"
        # Root here cannot raise hard rlimits; podman's defaults try to (setrlimit EPERM).
        conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.image = f"localhost/pyrunc-bench-busybox:{run_id}"
        self.manifests = work / "podman-manifests"
        self.manifests.mkdir()
        self.created: list[str] = []
        self.runtime = [] if hybrid_ok() else ["--runtime", "runc"]
        tarball = work / "busybox.tar"
        run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."])
        # An imported tarball has no PATH; set the image config as the busybox image has it.
        run(["podman", "import", "--change", f"ENV={PATH_ENV}", "--change", 'CMD=["sh"]',
             str(tarball), self.image], env=self.env)

    def podman(self, *args: str) -> str:
        return run(["podman", *self.runtime, *args], env=self.env)

    def inspect(self, name: str) -> dict:
        data = json.loads(self.podman("pod", "inspect", name, "--format", "json"))
        return data[0] if isinstance(data, list) else data

    def running(self, name: str) -> bool:
        states = [c["State"] for c in self.inspect(name)["Containers"]]
        return len(states) == 3 and all(s == "running" for s in states)  # web, logger, infra

    def start(self, name: str) -> None:
        path = self.manifests / f"{name}.json"
        path.write_text(pod_manifest(name, self.image))
        self.created.append(name)
        self.podman("kube", "play", str(path))
        wait_until(lambda: self.running(name), f"podman pod {name} to run")

    def delete(self, name: str) -> None:
        self.podman("kube", "down", str(self.manifests / f"{name}.json"))
        if self.podman("volume", "ls", "-q", "--filter", f"name={name}-data").strip():
            self.podman("volume", "rm", f"{name}-data")
        self.created.remove(name)

    def exec_true(self, name: str) -> None:
        self.podman("exec", f"{name}-web", "/bin/true")

    def get(self) -> None:
        self.podman("ps", "-q")

    def helper_pids(self) -> list[int]:
        """conmon of every container of our pods, and catatonit (the infra process)."""
        ids: set[str] = set()
        infra_pids: set[int] = set()
        for name in self.created:
            pod = self.inspect(name)
            ids.update(c["Id"] for c in pod["Containers"])
            pid = self.podman("inspect", "--format", "{{.State.Pid}}", pod["InfraContainerID"]).strip()
            infra_pids.add(int(pid))
        found = []
        for pid, (_, comm, cmd) in processes().items():
            if comm == "conmon" and any(cid in cmd for cid in ids):
                found.append(pid)
            elif comm == "catatonit" and pid in infra_pids:
                found.append(pid)
        return sorted(found)

    def cleanup(self) -> None:
        for name in self.created:
            quiet(["podman", "pod", "rm", "-f", "-t", "0", name], env=self.env)
            quiet(["podman", "volume", "rm", "-f", f"{name}-data"], env=self.env)
        self.created.clear()
        quiet(["podman", "rmi", "-f", self.image], env=self.env)


# --------------------------------------------------------------------------- runc / crun


class OciRuntime:
    """A detached `sleep` container run by runc or crun directly, for `exec` timings."""

    def __init__(self, binary: str, work: Path, run_id: str, rootfs: Path) -> None:
        self.binary = binary
        self.state = str(work / f"{binary}-state")
        self.id = f"pyrunc-bench-{binary}-{run_id}"
        self.bundle = work / f"{binary}-bundle"
        self.bundle.mkdir()
        self.started = False
        # `runc spec` writes the default config.json; crun reads the same file.
        run(["runc", "spec", "--bundle", str(self.bundle)])
        config_path = self.bundle / "config.json"
        config = json.loads(config_path.read_text())
        config["process"]["terminal"] = False
        config["process"]["args"] = ["sleep", "3600"]
        config["root"] = {"path": str(rootfs), "readonly": True}
        config_path.write_text(json.dumps(config))

    def oci(self, *args: str) -> str:
        return run([self.binary, "--root", self.state, *args])

    def start(self) -> None:
        self.started = True
        # The detached container inherits run's stdout/stderr: pipes would never reach EOF.
        log = self.bundle / "run.log"
        with open(log, "w", encoding="utf-8") as err:
            rc = subprocess.run(
                [self.binary, "--root", self.state, "run", "--detach", "--bundle", str(self.bundle), self.id],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=CMD_TIMEOUT, check=False,
            ).returncode
        if rc != 0:
            lines = log.read_text().strip().splitlines()
            raise BenchError(f"{self.binary} run exited {rc}: {lines[-1] if lines else ''}")

    def exec_true(self) -> None:
        self.oci("exec", self.id, "/bin/true")

    def cleanup(self) -> None:
        if self.started:
            quiet([self.binary, "--root", self.state, "delete", "--force", self.id])


# --------------------------------------------------------------------------- measuring


def hybrid_ok() -> bool:
    """False when a controller is still enabled in the cgroup2 mount of a hybrid host (crun refuses it)."""
    try:
        return not Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().split()
    except OSError:
        return True


def pyrunc_command(given: str | None) -> list[str]:
    if given:
        return given.split()
    venv = REPO / ".venv" / "bin"
    if (venv / "pyrunc-launcher").exists():  # what `make setup` links as /usr/local/bin/pyrunc
        return [str(venv / "pyrunc-launcher")]
    if (venv / "pyrunc").exists():
        return [str(venv / "pyrunc")]
    if shutil.which("pyrunc"):
        return ["pyrunc"]
    return [str(venv / "python") if (venv / "python").exists() else sys.executable, "-m", "pyrunc"]


def attempt(samples: Samples, fn: Callable[[], None]) -> bool:
    """Time fn into samples unless that side already failed; False once it has."""
    if samples.error:
        return False
    try:
        samples.values.append(timed(fn))
    except BenchError as e:
        samples.error = str(e)
        return False
    return True


def start_delete_exec(side: Pyrunc | Podman, prefix: str, repeat: int) -> dict[str, Samples]:
    """Rounds of: start one pod, exec /bin/true into it 3 times, delete it.

    Round 0 is an untimed warm-up (page cache, image store); its errors still count.
    """
    out = {"start": Samples(), "exec": Samples(), "delete": Samples()}
    for i in range(repeat + 1):
        name = f"{prefix}-{i}"
        into = out if i > 0 else {k: Samples() for k in out}
        ok = attempt(into["start"], lambda: side.start(name))
        if ok:
            for _ in range(3):
                attempt(into["exec"], lambda: side.exec_true(name))
            ok = attempt(into["delete"], lambda: side.delete(name))
        if i == 0:
            for key, samples in into.items():
                out[key].error = samples.error
        if not ok:
            break
    return out


def many_pods(side: Pyrunc | Podman, prefix: str, pods: int, repeat: int) -> dict[str, Samples]:
    """Bring pods up, read the helpers' PSS per pod and time the pod listing, then take them down."""
    out = {"up": Samples(), "pss": Samples(), "helpers": Samples(), "get": Samples(), "down": Samples()}

    def up() -> None:
        for i in range(pods):
            side.start(f"{prefix}-{i}")

    def down() -> None:
        for name in list(side.created):
            side.delete(name)

    if attempt(out["up"], up):
        try:
            pids = side.helper_pids()
            out["pss"].values.append(pss_kib(pids) / 1024 / pods)
            out["helpers"].values.append(len(pids))
            print(f"  {type(side).__name__}: {len(pids)} resident runtime processes for {pods} pods")
        except BenchError as e:
            out["pss"].error = str(e)
        for _ in range(repeat):
            attempt(out["get"], side.get)
    else:
        out["pss"].error = out["helpers"].error = out["get"].error = "pods did not come up"
    attempt(out["down"], down)
    return out


def oci_exec(binary: str, work: Path, run_id: str, rootfs: Path, repeat: int) -> Samples:
    samples = Samples()
    if not shutil.which(binary):
        samples.error = f"{binary} is not installed (run bench/setup.sh)"
        return samples
    oci = OciRuntime(binary, work, run_id, rootfs)
    try:
        oci.start()
        oci.exec_true()  # warm-up
        for _ in range(repeat * 3):
            attempt(samples, oci.exec_true)
    except BenchError as e:
        samples.error = str(e)
    finally:
        oci.cleanup()
    return samples


def count(samples: Samples) -> str:
    return "n/a" if samples.median() is None else f"{samples.median():.0f}"


def version(cmd: list[str]) -> str:
    try:
        return run(cmd).strip().splitlines()[0]
    except (BenchError, IndexError):
        return "not available"


def machine_facts(pyrunc: list[str]) -> dict[str, str]:
    cpu = ""
    try:
        cpu = next(
            (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8") if line.startswith("model name")),
            "",
        )
    except OSError:
        pass
    try:
        mem = next(line.split()[1] for line in open("/proc/meminfo", encoding="ascii") if line.startswith("MemTotal"))
        mem = f"{int(mem) / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        mem = "?"
    layout = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else (
        "v1 hybrid" if Path("/sys/fs/cgroup/unified").exists() else "v1")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} x {cpu}" if cpu else str(os.cpu_count()),
        "memory": mem,
        "kernel": platform.release(),
        "load average at the end": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "cgroups": layout,
        "python": platform.python_version(),
        # Relative to the checkout: the report names no path of the machine it was made on.
        "pyrunc": f"{' '.join(pyrunc).replace(str(REPO) + '/', '')} (git {version(['git', '-C', str(REPO), 'rev-parse', '--short', 'HEAD'])})",
        "podman": version(["podman", "--version"]),
        "conmon": version(["conmon", "--version"]),
        "runc": version(["runc", "--version"]),
        "crun": version(["crun", "--version"]),
        "skopeo": version(["skopeo", "--version"]),
    }


# --------------------------------------------------------------------------- report


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.0f} ms" if unit == "s" else f"{value:.2f} MiB"


def table(rows: list[Row]) -> str:
    lines = [
        "| measure | ours | value | peer | value | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r.ratio()
        lines.append(
            f"| {r.measure} | {r.ours} | {fmt(r.ours_s, r.unit)} | {r.peer} | {fmt(r.peer_s, r.unit)} | "
            f"{'n/a' if ratio is None else f'{ratio:.2f}x'} | {r.target} | {r.met()} |"
        )
    return "\n".join(lines)


def report(rows: list[Row], facts: dict[str, str], errors: list[str], args: argparse.Namespace) -> str:
    facts_md = "\n".join(f"- {k}: {v}" for k, v in facts.items())
    errors_md = "\n".join(f"- {e}" for e in errors) or "- none"
    notes = "\n".join(f"- {r.measure}: {r.note}" for r in rows if r.note)
    return f"""# Benchmarks: pyrunc against podman, runc and crun

Made by `sudo python3 bench/run.py --pods {args.pods} --repeat {args.repeat}` (after `sudo bench/setup.sh`).
All figures come from one run on one machine; compare the ratios, not the absolute times:
the machine may be shared (see the load average below), which slows both sides alike.
Times are medians of {args.repeat} rounds after one untimed warm-up round; "n/a" means that side failed (see Errors).

{table(rows)}

## Machine

{facts_md}

## What is measured

- **pod start**: a 2-container busybox pod sharing an emptyDir (a server `sleep 3600` and a logger
  appending `date` to the volume), from `pyrunc apply -f` / `podman kube play` until a status query
  (`pyrunc get pod -o json`, `podman pod inspect`) shows every container running.
- **pod delete**: `pyrunc delete pod` / `podman kube down` (+ `podman volume rm` if the volume is
  left) until nothing of the pod is left. Both containers trap SIGTERM: PID 1 ignores a signal it has
  no handler for, and a bare `sleep` would measure the grace period instead of the runtime.
- **exec**: `/bin/true` into a running container, 3 times per round; `runc exec` / `crun exec`
  into a detached `sleep` container started directly by runc/crun from the same rootfs.
- **PSS per pod**: with {args.pods} pods up, the sum of `Pss` in `/proc/PID/smaps_rollup` of the
  runtime's own resident processes, divided by the pod count. pyrunc: every process whose cmdline
  contains `pyrunc` and that belongs to the benchmark's `--root` (daemon, holders), container
  processes excluded. podman: conmon of every container plus catatonit (the infra process).
- **get**: `pyrunc get pods` / `podman ps -q` with {args.pods} pods up; the target is absolute (≤ 0.1 s).
- podman runs with a `CONTAINERS_CONF` setting `default_ulimits` (root here cannot raise hard
  rlimits) and a local image made by `podman import` of the same busybox rootfs.

## Notes

{notes or "- none"}

## Errors

{errors_md}
"""


def second_pod(pyrunc_cmd: list[str], work: Path, run_id: str, store: Path, image: str) -> dict[str, object]:
    """Two pods on an image already in `store` (its tag is not `latest`: IfNotPresent, no pull):
    what creating the second one did to the store, every file's atime reset just before."""
    (work / "second-pod").mkdir()
    side = Pyrunc(pyrunc_cmd, work / "second-pod", run_id)
    side.env["PYRUNC_IMAGES"] = str(store)
    side.image = image
    try:
        side.start(f"pb{run_id}-first")
        os.sync()
        pull.age_atimes(store)
        before = pull.snapshot(store)
        side.start(f"pb{run_id}-second")
        after = pull.snapshot(store)
        changes = pull.diff(before, after)
        read = [p for p in pull.read_files(store) if p in before and before[p] == after[p]]
        return {**changes, "read": [p for p in read if "/diff/" not in p],
                "container reads": len([p for p in read if "/diff/" in p])}
    finally:
        side.cleanup()


def write_pull_only(args: argparse.Namespace, section: str, raw_pull: dict[str, object], errors: list[str],
                    pyrunc_cmd: list[str]) -> int:
    """`--only pull`: replace the pull section of --out (the pod figures stay), print it, save the raw figures."""
    facts = machine_facts(pyrunc_cmd)
    facts_md = "\n".join(f"- {k}: {v}" for k, v in facts.items() if k not in ("runc", "crun", "conmon"))
    errors_md = "\n".join(f"- {e}" for e in errors) or "- none"
    section = section.replace(pull.END, f"\nMachine for this section:\n\n{facts_md}\n\nErrors: {errors_md}\n{pull.END}")
    print()
    print(section)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(pull.merge_section(out.read_text(encoding="utf-8") if out.exists() else "", section), encoding="utf-8")
    raw = REPO / "bench" / "results" / f"{time.strftime('%Y%m%dT%H%M%S')}-pull.json"
    raw.parent.mkdir(exist_ok=True)
    raw.write_text(json.dumps({"facts": facts, "pull": raw_pull}, indent=1))
    print(f"\nwrote {args.out} and {raw}")
    return 1 if errors else 0


def absent_peers(ours: dict[str, Samples]) -> dict[str, dict[str, Samples]]:
    """The peers' samples when they are not measured (--no-peers, or podman not installed): every cell n/a."""
    def absent() -> Samples:
        return Samples(error="not measured (--no-peers or not installed)")

    return {"podman": {measure: absent() for measure in ours}, "runc": {"exec": absent()},
            "crun": {"exec": absent()}}


def run_scale(args: argparse.Namespace, pyrunc_cmd: list[str], work: Path, run_id: str, rootfs: Path) -> int:
    """`--only scale`: N pods with a probe each, pyrunc then podman; replaces the scale section of --out."""
    n = args.scale_pods
    ours = Pyrunc(pyrunc_cmd, work, run_id, args.pod_subnet)
    try:
        print(f"pyrunc: {n} pods with a probe each")
        mine = scale.scale_pyrunc(ours, f"ps{run_id}", n, args.repeat, args.idle,
                                  lambda name: pod_manifest(name, ours.image), wait_until_long)
    finally:
        ours.cleanup()
    print(f"  pyrunc: {json.dumps(scale.raw(mine))}")  # the podman side takes minutes more
    theirs = scale.ScaleSide(error="not measured (--no-peers, or podman is not installed)")
    if not args.no_peers:
        peer = Podman(work, run_id, rootfs)
        try:
            print(f"podman: {n} pods with a healthcheck each")
            theirs = scale.scale_podman(peer, f"qs{run_id}", n, args.repeat, args.idle,
                                        lambda name: pod_manifest(name, peer.image), wait_until_long)
        finally:
            peer.cleanup()
    text = scale.section(mine, theirs, n, args.idle, args.repeat, machine_facts(pyrunc_cmd))
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(scale.merge_section(out.read_text(encoding="utf-8") if out.exists() else "", text),
                   encoding="utf-8")
    raw = REPO / "bench" / "results" / f"{time.strftime('%Y%m%dT%H%M%S')}-scale.json"
    raw.parent.mkdir(exist_ok=True)
    raw.write_text(json.dumps({"pyrunc": scale.raw(mine), "podman": scale.raw(theirs)}, indent=1))
    print(f"\nwrote {args.out} and {raw}")
    return 1 if mine.error or mine.left else 0


def wait_until_long(check: Callable[[], bool], what: str) -> None:
    """wait_until with a deadline for many pods at once (every pod of the scale measure getting ready)."""
    deadline = time.monotonic() + 300.0
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out waiting for {what}")
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20, help="pods up for the PSS and get measures")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per measure")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"), help="markdown report")
    parser.add_argument("--pyrunc", help='pyrunc command (default: the repo venv, then PATH), e.g. "pyrunc"')
    parser.add_argument("--only", choices=("pods", "pull", "probes", "scale"), default="",
                        help="one part: the pod measures, the image pull, the CPU per probe (bench/probe_cost.py) or the"
                             " scale measure (the last three replace their own section of --out)")
    parser.add_argument("--scale-pods", type=int, default=200, help="pods up for the scale measure (--only scale)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measured (--only scale)")
    parser.add_argument("--pod-subnet", default="10.77.0.0/24",
                        help="pyrunc's pod subnet for the run (a /24 holds the 200 pods of the scale measure)")
    parser.add_argument("--no-peers", action="store_true",
                        help="measure pyrunc only; the peers' cells read n/a (as when they are not installed)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/run.py: must run as root (sudo python3 bench/run.py)", file=sys.stderr)
        return 1
    if not args.no_peers and not shutil.which("podman"):
        print("bench/run.py: podman is not installed (bench/setup.sh installs it): measuring pyrunc only",
              file=sys.stderr)
        args.no_peers = True
    if args.only == "pull" and args.no_peers:
        print("bench/run.py: the pull measure needs its peers (bench/setup.sh)", file=sys.stderr)
        return 1
    if not hybrid_ok():
        print("bench/run.py: hugetlb is still in the cgroup2 mount (crun refuses it): run bench/setup.sh;"
              " podman falls back to --runtime runc", file=sys.stderr)

    if args.only == "probes":
        import probe_cost  # bench/probe_cost.py

        return probe_cost.write_section(args.out)
    run_id = f"{os.getpid():x}"
    pyrunc_cmd = pyrunc_command(args.pyrunc)
    # Under /var/tmp, not /tmp: the pull measure counts disk writes, which a tmpfs would not show.
    work = Path(tempfile.mkdtemp(prefix=f"pyrunc-bench-{run_id}-", dir="/var/tmp"))
    image = work / "busybox"
    run(["sh", str(REPO / "rootfs" / "busybox.sh"), str(image)])
    rootfs = image / "rootfs"
    # The busybox image of the pods, in the run's own store (PYRUNC_IMAGES=work/images), as
    # scripts/builtin-image.sh makes the built-in one.
    run([*pyrunc_cmd, "--root", str(work / "import-root"), "image", "import", "-q", str(image / "rootfs.tar"), BUSYBOX,
         "--change", f"ENV {PATH_ENV}", "--change", "WORKDIR /", "--change", 'CMD ["sh"]'],
        env={**os.environ, "PYRUNC_IMAGES": str(work / "images")})
    results: dict[str, dict[str, Samples]] = {}
    errors: list[str] = []
    pull_md, pull_raw = "", dict[str, object]()
    try:
        if args.only == "scale":
            return run_scale(args, pyrunc_cmd, work, run_id, rootfs)
        if args.only != "pods" and not args.no_peers:
            try:
                pull_md, pull_raw, pull_errors = pull.run_pull(pyrunc_cmd, work, REPO, args.repeat, image / "rootfs.tar")
                errors += pull_errors
                kept = pull_raw.get("store")
                if isinstance(kept, str):
                    try:
                        pod = second_pod(pyrunc_cmd, work, run_id, Path(kept), str(pull_raw["image name"]))
                        pull_raw["second pod"] = pod
                        pull_md = pull.with_pod_lines(pull_md, pod)
                    except BenchError as failure:
                        errors.append(f"second pod: {failure}")
            except pull.PullBenchError as failure:
                errors.append(f"pull: {failure}")
                pull_md = f"{pull.BEGIN}\n## Pull of a multi-layer image\n\nFailed: {failure}\n{pull.END}\n"
        if args.only == "pull":
            return write_pull_only(args, pull_md, pull_raw, errors, pyrunc_cmd)
        ours = Pyrunc(pyrunc_cmd, work, run_id, args.pod_subnet)
        try:
            print(f"pyrunc ({' '.join(pyrunc_cmd)}): start/exec/delete")
            results["pyrunc"] = start_delete_exec(ours, f"pb{run_id}-a", args.repeat)
            print(f"pyrunc: {args.pods} pods")
            results["pyrunc"].update(many_pods(ours, f"pb{run_id}-b", args.pods, args.repeat))
        finally:
            ours.cleanup()
        if args.no_peers:
            results.update(absent_peers(results["pyrunc"]))
        else:
            peer = Podman(work, run_id, rootfs)
            try:
                print("podman: start/exec/delete")
                results["podman"] = start_delete_exec(peer, f"pb{run_id}-c", args.repeat)
                print(f"podman: {args.pods} pods")
                results["podman"].update(many_pods(peer, f"pb{run_id}-d", args.pods, args.repeat))
            finally:
                peer.cleanup()
            for binary in ("runc", "crun"):
                print(f"{binary}: exec")
                results[binary] = {"exec": oci_exec(binary, work, run_id, rootfs, args.repeat)}
    finally:
        if any(f" {work}" in line for line in open("/proc/self/mountinfo", encoding="utf-8")):
            print(f"bench/run.py: mounts left under {work}; not removing it", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    for side, measures in results.items():
        for measure, samples in measures.items():
            if samples.error:
                errors.append(f"{side} {measure}: {samples.error}")
    p, pm = results["pyrunc"], results["podman"]
    runc, crun = results["runc"]["exec"], results["crun"]["exec"]
    n = args.pods
    rows = [
        Row("pod start", "pyrunc", p["start"].median(), "podman kube play", pm["start"].median(), "s", "≤ 0.5x", 0.5),
        Row("pod delete", "pyrunc", p["delete"].median(), "podman kube down", pm["delete"].median(), "s", "≤ 0.2x", 0.2),
        Row("exec /bin/true", "pyrunc", p["exec"].median(), "runc exec", runc.median(), "s", "≤ 2x", 2.0),
        Row("exec /bin/true", "pyrunc", p["exec"].median(), "crun exec", crun.median(), "s", "-", None),
        Row("exec /bin/true", "podman exec", pm["exec"].median(), "runc exec", runc.median(), "s", "-", None),
        Row(f"runtime PSS per pod, {n} pods", "pyrunc", p["pss"].median(), "conmon+catatonit", pm["pss"].median(),
            "MiB", "≤ 1x", 1.0, note=f"processes counted: pyrunc {count(p['helpers'])}, podman {count(pm['helpers'])}"),
        Row(f"get pods, {n} pods", "pyrunc", p["get"].median(), "podman ps -q", pm["get"].median(), "s", "≤ 0.1 s",
            0.1, absolute=True),
        Row(f"{n} pods up, one after another", "pyrunc", p["up"].median(), "podman", pm["up"].median(), "s", "≤ 0.4x", 0.4),
        Row(f"{n} pods down, one after another", "pyrunc", p["down"].median(), "podman", pm["down"].median(), "s", "-",
            None),
    ]
    facts = machine_facts(pyrunc_cmd)
    print()
    print(table(rows))
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    text = report(rows, facts, errors, args)
    kept = scale.kept_section(Path(args.out).read_text(encoding="utf-8")) if Path(args.out).exists() else ""
    Path(args.out).write_text(text + ("\n" + pull_md if pull_md else "") + ("\n" + kept if kept else ""),
                              encoding="utf-8")
    raw = REPO / "bench" / "results" / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    raw.parent.mkdir(exist_ok=True)
    raw.write_text(json.dumps({"facts": facts, "samples": {
        side: {m: {"values": s.values, "error": s.error} for m, s in ms.items()} for side, ms in results.items()
    }, "pull": pull_raw}, indent=1))
    print(f"\nwrote {args.out} and {raw}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
