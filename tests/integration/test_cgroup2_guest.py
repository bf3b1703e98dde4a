"""Runs the cgroup driver tests and every cgroup2-marked test on a cgroup v2 kernel.

On a cgroup v1 host (like the CI machine) the v2 driver is proven in a throw-away QEMU guest
booted by the project's own harness, tests/guest/run_in_guest.py (see tests/guest/README.md):
Debian's cloud kernel with cgroup2 alone. On a real v2 host those tests run natively and this one
skips. The guest gets a small staging copy (pyrunc/, tests/, examples/, rootfs/, pyproject.toml
for the markers, and the venv's site-packages for pytest and friends) instead of the repo with
.git. Pod-level tests need the busybox image: it is imported into an image store in the staging
dir by scripts/builtin-image.sh, and PYRUNC_IMAGES points the runtime in the guest at it. The guest
boots in the background as soon as collection ends and its test runs last (tests/conftest.py), so
the host's tests and the guest's overlap.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pyrunc.cgroups import detect

pytestmark = [pytest.mark.root, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "guest" / "run_in_guest.py"
DRIVER_TESTS = "tests/integration/test_cgroup_driver.py"
POD_TESTS = "tests/integration/test_resources_pods.py"
V2_PROOFS = (
    f"PASSED {DRIVER_TESTS}::test_unified_host_uses_the_v2_driver",
    f"PASSED {POD_TESTS}::test_unified_host_runs_pods_on_the_v2_driver",
    # The device cgroup as a BPF program: the kernel holds ours, and it refuses a host block device.
    "PASSED tests/integration/test_security_devices.py::test_the_container_group_holds_runc_s_allow_list[v2]",
    "PASSED tests/integration/test_security_devices.py::test_a_host_block_device_made_with_mknod_cannot_be_read[v2]",
)
# One pod with a network and a hostPort: the guest's nftables and its kernel modules work.
NET_TEST = "tests/integration/test_net_pods.py::test_host_port_reached_on_loopback_and_a_clash_is_refused_cleanly"

# Three pytest runs in one boot (Python start-up is the slow part under TCG): the driver and
# pod-level resource tests, whole (they branch on the cgroup version themselves), with NET_TEST;
# every other cgroup2-marked integration test (unit tests never need the guest: not even collected
# there, nor the image modules, whose registry fixtures cost seconds to import under emulation);
# and the isolation modules whose paths differ on cgroup v2, whole: the device cgroup (a BPF program
# on v2), exec (joining the container's v2 group) and mounts (the container's /sys/fs/cgroup,
# cgroupns). The other isolation modules (users, process, door, network) do not branch on the cgroup
# version and run on the host only, as does the subPath race: a restart loop of a minute and more
# under emulation. Exit 5 (no tests) is fine for the second.
SECURITY = " ".join(f"tests/integration/test_security_{m}.py" for m in ("devices", "exec", "mounts"))
NOT_IN_GUEST = ("--ignore-glob='tests/integration/test_security_*.py' --ignore-glob='tests/integration/test_image*.py' "
                "--ignore=tests/integration/test_registry_client.py --ignore=tests/integration/test_archive_tools.py "
                "--ignore=tests/integration/test_pull_second.py")
HOST_ONLY = "tests/integration/test_security_mounts.py::test_sub_path_race_never_reaches_the_host"
# -v: each test's id is printed as it starts, so a guest killed by its timeout still shows (in the
# assertion's context) which test it was in and how far it got.
PYTEST = "python3 -m pytest -v -rA -p no:cacheprovider --durations=8"
GUEST_SCRIPT = f"""
export PYTHONPATH="$PWD/site-packages:$PWD"
export PYRUNC_IMAGES="$PWD/images"
{PYTEST} {DRIVER_TESTS} {POD_TESTS} {NET_TEST}
first=$?
{PYTEST} -m cgroup2 tests/integration --ignore={DRIVER_TESTS} --ignore={POD_TESTS} \\
    --ignore=tests/integration/test_cgroup2_guest.py {NOT_IN_GUEST}
second=$?
{PYTEST} {SECURITY} --deselect {HOST_ONLY}
third=$?
echo "guest exits: $first $second $third"
[ $first -eq 0 ] && {{ [ $second -eq 0 ] || [ $second -eq 5 ]; }} && [ $third -eq 0 ]
"""


def stage(dest: Path) -> None:
    """What the guest needs, byte-compiled, and an image store with the busybox image made here by
    scripts/builtin-image.sh (the same recipe; under emulation the guest would spend ~15 s on it, and
    as long again compiling modules: its Python is 3.11 too, so the .pyc files made here are valid there)."""
    ignore = shutil.ignore_patterns(".pytest_cache")
    shutil.copytree(ROOT / "pyrunc", dest / "pyrunc", ignore=ignore)
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=ignore)
    shutil.copytree(ROOT / "examples", dest / "examples", ignore=ignore)
    shutil.copytree(ROOT / "rootfs", dest / "rootfs", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    site = ROOT / ".venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    shutil.copytree(site, dest / "site-packages", ignore=ignore)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(dest)], check=True, capture_output=True)
    # The guest's image store, with the built-in busybox imported as setup does it.
    subprocess.run(["sh", str(ROOT / "scripts" / "builtin-image.sh"), str(ROOT / ".venv" / "bin" / "pyrunc"),
                    str(dest / "busybox-build")], check=True, capture_output=True,
                   env={**os.environ, "PYRUNC_IMAGES": str(dest / "images")})
    shutil.rmtree(dest / "busybox-build")


def summaries(output: str) -> list[dict[str, int]]:
    """Counts from each pytest summary line ("3 passed, 1 skipped in 9.1s")."""
    found = []
    for line in output.splitlines():
        if re.search(r"\d+ \w+.* in [\d.]+s", line) or "no tests ran" in line:
            found.append({word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", line)})
    return found


def test_summaries_parse() -> None:
    out = "....\n=== 11 passed, 1 skipped in 9.10s ===\n=== 2 failed, 3 passed, 1 error in 1.00s ==="
    assert summaries(out) == [{"passed": 11, "skipped": 1}, {"failed": 2, "passed": 3, "error": 1}]


class GuestRun:
    """One boot of the guest running GUEST_SCRIPT, in the background: the host's own tests go on
    meanwhile (the guest is mostly one emulated CPU's work; the host tests mostly wait on processes).
    tests/conftest.py starts it as soon as collection ends and puts this module's test last, so the
    two overlap; run alone, the test starts it itself. Output goes to files (a pipe could fill up)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pyrunc-guest-run-"))
        stage(self.dir / "stage")
        self.out = open(self.dir / "stdout", "w+", encoding="utf-8")  # noqa: SIM115 (closed by result)
        self.err = open(self.dir / "stderr", "w+", encoding="utf-8")  # noqa: SIM115
        self.started = time.monotonic()
        # ~5 min alone, ~14 beside the host tests; a slow shared machine once took over 25.
        self.proc = subprocess.Popen(
            [sys.executable, str(HARNESS), "--timeout", "2400", str(self.dir / "stage"), "sh", "-c", GUEST_SCRIPT],
            stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL, start_new_session=True)

    def result(self, timeout: float = 2700) -> subprocess.CompletedProcess[str]:
        try:
            code = self.proc.wait(timeout=max(1.0, timeout - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.stop()
            code = -9
        self.out.seek(0)
        self.err.seek(0)
        done = subprocess.CompletedProcess(self.proc.args, code, self.out.read(), self.err.read())
        self.stop()
        return done

    def stop(self) -> None:
        """The harness and its QEMU, by process group (started in a session of their own)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for f in (self.out, self.err):
            if not f.closed:
                f.close()
        shutil.rmtree(self.dir, ignore_errors=True)


EARLY: list[GuestRun] = []  # the run tests/conftest.py started at the end of collection


def guest_needed() -> bool:
    return not os.environ.get("RUN_IN_GUEST") and os.geteuid() == 0 and detect().version != 2


@pytest.mark.skipif(bool(os.environ.get("RUN_IN_GUEST")), reason="already inside the cgroup2 guest")
def test_cgroup2_suite_in_guest() -> None:
    if detect().version == 2:
        pytest.skip("cgroup v2 host: the cgroup2 tests run natively")
    run = EARLY.pop() if EARLY else GuestRun()
    result = run.result()
    print(f"guest run: exit {result.returncode} after {time.monotonic() - run.started:.0f} s")
    print(result.stdout)
    print(result.stderr)
    context = f"guest exit {result.returncode}:\n{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, context
    counts = summaries(result.stdout)
    assert counts, context
    driver_run = counts[0]
    assert driver_run.get("passed", 0) > 0, context
    assert all(c.get("failed", 0) == 0 and c.get("error", 0) + c.get("errors", 0) == 0 for c in counts), context
    assert all(proof in result.stdout for proof in V2_PROOFS), context
    assert f"PASSED {NET_TEST}" in result.stdout, context
