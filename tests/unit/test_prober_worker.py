"""ProbeWorker: the kubelet's prober/worker.go counting and scheduling rules, with time passed in."""

from __future__ import annotations

import pytest

from pyrunc.spec.model import ExecAction, Probe
from pyrunc.probe.worker import Outcome, ProbeWorker, container_ready

EXEC = ExecAction(command=("true",))


def probe(**kw: int) -> Probe:
    return Probe(exec=EXEC, **kw)


def feed(w: ProbeWorker, results: list[bool | None], start: float = 0.0) -> list[Outcome]:
    """Record results at successive scheduled times, like the supervisor does."""
    out = []
    now = start
    for r in results:
        now = w.next_run(now)
        out.append(w.record(r, now + 0.1))
        now += 0.1
    return out


def test_readiness_starts_not_ready_and_flips_after_success_threshold() -> None:
    w = ProbeWorker(probe(success_threshold=2, failure_threshold=2), "readiness", started_at=0)
    assert w.result is False and not w.ready
    first, second = feed(w, [True, True])
    assert first == Outcome(False, changed=False, kill=False)
    assert second == Outcome(True, changed=True, kill=False) and w.ready


def test_readiness_failure_threshold_needs_consecutive_failures() -> None:
    w = ProbeWorker(probe(failure_threshold=3), "readiness", started_at=0)
    feed(w, [True])
    assert w.ready
    # Two failures, a success (the run restarts), then three failures.
    outs = feed(w, [False, False, True, False, False, False], start=20)
    assert [o.result for o in outs] == [True, True, True, True, True, False]
    assert outs[-1].changed and not outs[-1].kill  # readiness never kills
    assert not w.ready


def test_readiness_unchanged_result_is_not_a_change() -> None:
    w = ProbeWorker(probe(), "readiness", started_at=0)
    a, b = feed(w, [True, True])
    assert a.changed and not b.changed and b.result is True


def test_liveness_kills_after_failure_threshold_then_holds() -> None:
    w = ProbeWorker(probe(failure_threshold=3), "liveness", started_at=0)
    assert w.result is True  # liveness starts as Success
    outs = feed(w, [False, False, False])
    assert [o.kill for o in outs] == [False, False, True]
    assert outs[-1] == Outcome(False, changed=True, kill=True)
    assert w.on_hold and not w.active(startup_done=True)
    # On hold: further results are ignored until the container is replaced.
    assert w.record(False, 100) == Outcome(False, changed=False, kill=False)
    w.reset(started_at=200)
    assert w.result is True and not w.on_hold and w.active(startup_done=True)
    assert [o.kill for o in feed(w, [False, False, False], start=200)] == [False, False, True]


def test_liveness_success_threshold_is_always_one() -> None:
    w = ProbeWorker(probe(success_threshold=5, failure_threshold=1), "liveness", started_at=0)
    assert w.success_threshold == 1
    r = ProbeWorker(probe(success_threshold=5), "readiness", started_at=0)
    assert r.success_threshold == 5


def test_unknown_results_are_not_counted() -> None:
    w = ProbeWorker(probe(failure_threshold=2), "liveness", started_at=0)
    outs = feed(w, [False, None, None, False])
    assert [o.kill for o in outs] == [False, False, False, True]
    r = ProbeWorker(probe(), "readiness", started_at=0)
    assert feed(r, [None])[0] == Outcome(False, changed=False, kill=False)


def test_startup_succeeds_once_then_stops_and_gates_the_others() -> None:
    s = ProbeWorker(probe(failure_threshold=30), "startup", started_at=0)
    live = ProbeWorker(probe(), "liveness", started_at=0)
    ready = ProbeWorker(probe(), "readiness", started_at=0)
    assert s.result is None  # startup starts Unknown
    assert s.active(startup_done=False) and not live.active(False) and not ready.active(False)
    outs = feed(s, [False, False, True])
    assert outs[-1] == Outcome(True, changed=True, kill=False)
    assert not s.active(startup_done=True) and live.active(True) and ready.active(True)


def test_startup_failure_threshold_kills() -> None:
    s = ProbeWorker(probe(failure_threshold=2, period_seconds=1), "startup", started_at=0)
    outs = feed(s, [False, False])
    assert outs[-1] == Outcome(False, changed=True, kill=True) and s.on_hold


def test_first_run_waits_for_initial_delay_then_every_period() -> None:
    w = ProbeWorker(probe(initial_delay_seconds=5, period_seconds=10), "readiness", started_at=100)
    assert w.next_run(100) == 105
    assert w.next_run(104.9) == 105
    w.record(True, 105.2)
    assert w.next_run(105.2) == 115
    w.record(True, 115.3)
    assert w.next_run(115.3) == 125


def test_initial_delay_already_passed_runs_on_the_next_grid_tick() -> None:
    w = ProbeWorker(probe(initial_delay_seconds=5, period_seconds=10), "liveness", started_at=100)
    assert w.next_run(105) == 105
    assert w.next_run(107) == 115  # e.g. gated by a startup probe until 107


def test_a_probe_overrunning_its_period_drops_the_missed_tick() -> None:
    w = ProbeWorker(probe(period_seconds=2, timeout_seconds=5), "liveness", started_at=0)
    assert w.next_run(0) == 0
    w.record(True, 4.5)  # ran at 0, finished at 4.5: ticks 2 and 4 passed meanwhile
    assert w.next_run(4.5) == 6


def test_same_tick_is_never_run_twice() -> None:
    w = ProbeWorker(probe(period_seconds=3), "readiness", started_at=0)
    w.record(True, 0)  # finished at the very instant of its tick (a fake clock)
    assert w.next_run(0) == 3


def test_reset_restarts_the_schedule_and_counters() -> None:
    w = ProbeWorker(probe(initial_delay_seconds=2, period_seconds=5, failure_threshold=2), "readiness",
                    started_at=0)
    feed(w, [True, False])
    w.reset(started_at=50)
    assert w.result is False and w.run == 0 and w.last is None
    assert w.next_run(50) == 52


def test_minimum_values_are_enforced() -> None:
    # The API rejects these; a hand-made Probe must still not divide by zero or never trigger.
    w = ProbeWorker(Probe(exec=EXEC, initial_delay_seconds=-3, period_seconds=0, timeout_seconds=0,
                          success_threshold=0, failure_threshold=0), "readiness", started_at=10)
    assert (w.initial_delay, w.period, w.timeout, w.success_threshold, w.failure_threshold) == (0, 1, 1, 1, 1)
    assert w.next_run(10) == 10
    assert feed(w, [True], start=10)[0].result is True


def test_api_defaults() -> None:
    w = ProbeWorker(Probe(exec=EXEC), "liveness", started_at=0)
    assert (w.initial_delay, w.period, w.timeout, w.success_threshold, w.failure_threshold) == (0, 10, 1, 1, 3)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="probe kind"):
        ProbeWorker(probe(), "readyness", started_at=0)


def test_container_ready() -> None:
    assert container_ready(None, started=True)  # no readiness probe: ready once started
    assert not container_ready(None, started=False)
    w = ProbeWorker(probe(), "readiness", started_at=0)
    assert not container_ready(w, started=True)
    feed(w, [True])
    assert container_ready(w, started=True) and not container_ready(w, started=False)
