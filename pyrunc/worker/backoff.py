"""Container restart back-off, as the kubelet computes it (pkg/kubelet/kuberuntime: a 10 s initial
delay doubling to 300 s). Pure.

The first restart is immediate; then the delay starts at 10 s (or at the maximum, when the
maximum is below 10 s) and doubles up to the maximum (300 s by default). A container that ran
for `reset_after` seconds (10 minutes) without failing starts over.
"""

from __future__ import annotations

from dataclasses import dataclass

INITIAL = 10.0


@dataclass(frozen=True, slots=True)
class Backoff:
    max_delay: float = 300.0
    reset_after: float = 600.0

    @property
    def initial(self) -> float:
        return self.max_delay if self.max_delay < INITIAL else INITIAL

    def failures_after_exit(self, previous_failures: int, ran_for: float) -> int:
        """Consecutive failures counting this exit (a long enough run resets the count)."""
        return 1 if ran_for >= self.reset_after else previous_failures + 1

    def delay(self, failures: int) -> float:
        """Seconds to wait before the restart that follows the `failures`-th consecutive exit."""
        if failures <= 1:
            return 0.0
        return min(self.max_delay, self.initial * 2.0 ** (failures - 2))


def should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)
