"""Backoff: the kubelet's container restart back-off (10 s doubling to 300 s, reset after 10 minutes)."""

from __future__ import annotations

import pytest

from pyrunc.worker.backoff import Backoff, should_restart

DEFAULT = Backoff()


@pytest.mark.parametrize(("failures", "delay"), [
    (0, 0.0), (1, 0.0),  # the first crash restarts at once
    (2, 10.0), (3, 20.0), (4, 40.0), (5, 80.0), (6, 160.0),
    (7, 300.0),  # 320 capped
    (8, 300.0), (20, 300.0),
])
def test_default_delay_doubles_from_10s_to_the_300s_cap(failures: int, delay: float) -> None:
    assert DEFAULT.delay(failures) == delay


@pytest.mark.parametrize(("max_delay", "delays"), [
    # crashLoopBackOff.maxContainerRestartPeriod below the default: the doubling stops there.
    (60.0, [0.0, 10.0, 20.0, 40.0, 60.0, 60.0]),
    (100.0, [0.0, 10.0, 20.0, 40.0, 80.0, 100.0, 100.0]),
    # Below 10 s the initial delay is the maximum itself.
    (5.0, [0.0, 5.0, 5.0, 5.0]),
    (2.0, [0.0, 2.0, 2.0]),
    (10.0, [0.0, 10.0, 10.0, 10.0]),
])
def test_configured_maximum_caps_every_delay(max_delay: float, delays: list[float]) -> None:
    b = Backoff(max_delay=max_delay)
    assert [b.delay(n) for n in range(1, len(delays) + 1)] == delays


@pytest.mark.parametrize(("max_delay", "initial"), [(300.0, 10.0), (10.0, 10.0), (9.0, 9.0), (1.0, 1.0)])
def test_initial_delay(max_delay: float, initial: float) -> None:
    assert Backoff(max_delay=max_delay).initial == initial


@pytest.mark.parametrize(("previous", "ran_for", "after"), [
    (0, 0.0, 1),
    (0, 5.0, 1),
    (3, 5.0, 4),  # a short run is one more consecutive failure
    (7, 599.0, 8),
    (7, 599.999, 8),
    (7, 600.0, 1),  # ten minutes of running: the count starts over, this exit being the first
    (7, 3600.0, 1),
])
def test_failures_after_exit_resets_after_ten_minutes_of_running(previous: int, ran_for: float, after: int) -> None:
    assert DEFAULT.failures_after_exit(previous, ran_for) == after


def test_reset_after_is_configurable() -> None:
    b = Backoff(reset_after=60.0)
    assert b.failures_after_exit(4, 59.0) == 5
    assert b.failures_after_exit(4, 60.0) == 1


@pytest.mark.parametrize(("policy", "code", "restart"), [
    ("Always", 0, True), ("Always", 1, True), ("Always", 137, True),
    ("OnFailure", 0, False), ("OnFailure", 1, True), ("OnFailure", 137, True),
    ("Never", 0, False), ("Never", 1, False), ("Never", 137, False),
])
def test_should_restart(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart
