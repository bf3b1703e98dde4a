"""The kubelet's image manager as pure rules: pull or not, back-off, and the words of its events.

    image_step(policy, present, pulled_for_this_attempt) -> USE | PULL | NEVER

(pkg/kubelet/images/image_manager.go: shouldPullImage, and the messages it records). The pull
itself runs outside the supervisor (worker/puller.py); its outcome comes back as facts through
plan.on_create_failure with reason ErrImagePull, on the image back-off below.
"""

from __future__ import annotations

import enum
from dataclasses import replace

from pyrunc.worker.backoff import Backoff
from pyrunc.worker.plan import ContainerFacts

# kubelet.go: imageBackOffPeriod 10 s, MaxImageBackOff 300 s, doubling per failure.
IMAGE_BACKOFF = Backoff(max_delay=300.0)
# The pod worker looks at a pod again this long after a failed sync (pod_workers.go backOffPeriod):
# a pull still in back-off then shows ImagePullBackOff instead of ErrImagePull.
RESYNC_AFTER_ERROR = 10.0


class ImageStep(enum.Enum):
    USE = "use"  # the image is present and the policy does not ask for a pull
    PULL = "pull"
    NEVER = "never"  # missing, and the policy is Never: ErrImageNeverPull


def image_step(policy: str, present: bool, pulled_for_attempt: bool, can_pull: bool = True) -> ImageStep:
    """shouldPullImage: Always pulls before every start (once per start: a pull just made for this
    attempt is used), IfNotPresent only when missing, Never never. On an offline node (`can_pull`
    false: the registry is not on this host) a present image is used whatever the policy."""
    if pulled_for_attempt:
        return ImageStep.USE
    if policy == "Never":
        return ImageStep.USE if present else ImageStep.NEVER
    if present and (policy == "IfNotPresent" or not can_pull):
        return ImageStep.USE
    return ImageStep.PULL


def offline_message(registry: str) -> str:
    return (f"the node is offline: registry {registry} is not contacted and the image is not present "
            "(offline in the node configuration)")


def pulling_message(image: str) -> str:
    return f'Pulling image "{image}"'


def present_message(image: str) -> str:
    return f'Container image "{image}" already present on machine'


def never_pull_message(image: str) -> str:
    return f'Container image "{image}" is not present with pull policy of Never'


def failed_pull_message(image: str, why: str) -> str:
    return f'Failed to pull image "{image}": {why}'


def backoff_message(image: str) -> str:
    return f'Back-off pulling image "{image}"'


def pulled_message(image: str, seconds: float, with_waiting: float, size: int) -> str:
    return (f'Successfully pulled image "{image}" in {go_duration(seconds)} '
            f"({go_duration(with_waiting)} including waiting). Image size: {size} bytes.")


def go_duration(seconds: float) -> str:
    """A duration as Go prints a time.Duration truncated to milliseconds (1.234s, 345ms, 2m3.5s)."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    minutes, ms = divmod(ms, 60_000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs


def in_backoff(facts: ContainerFacts, image: str, now: float) -> ContainerFacts | None:
    """A failed pull seen again before its retry time: the kubelet's ImagePullBackOff (None otherwise)."""
    if facts.waiting_reason != "ErrImagePull" or now >= facts.retry_create_at:
        return None
    return replace(facts, waiting_reason="ImagePullBackOff", waiting_message=backoff_message(image))
