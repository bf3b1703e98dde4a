"""The kubelet's image rules (worker/images.py) and the reference/policy defaults, as pure logic."""

from __future__ import annotations

import pytest

from pyrunc.images.reference import is_loopback, parse_ref
from pyrunc.spec.model import Container
from pyrunc.worker import images
from pyrunc.worker.images import IMAGE_BACKOFF, ImageStep, go_duration, image_step, in_backoff
from pyrunc.worker.plan import ContainerFacts, ContainerView, Kind, on_create_failure

USE, PULL, NEVER = ImageStep.USE, ImageStep.PULL, ImageStep.NEVER


@pytest.mark.parametrize("policy, present, pulled, can_pull, step", [
    ("Always", True, False, True, PULL),  # Always asks the registry before every start
    ("Always", False, False, True, PULL),
    ("Always", True, True, True, USE),  # ... once per start: the pull just made is used
    ("IfNotPresent", True, False, True, USE),
    ("IfNotPresent", False, False, True, PULL),
    ("Never", True, False, True, USE),
    ("Never", False, False, True, NEVER),
    ("Always", True, False, False, USE),  # an offline node uses what it has
    ("Always", False, False, False, PULL),  # ... and fails the pull it cannot make (ErrImagePull)
    ("Never", False, False, False, NEVER),
])
def test_should_pull_image(policy: str, present: bool, pulled: bool, can_pull: bool, step: ImageStep) -> None:
    assert image_step(policy, present, pulled, can_pull) is step


@pytest.mark.parametrize("image, policy", [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
    (f"busybox@sha256:{'a' * 64}", "IfNotPresent"), (f"busybox:latest@sha256:{'a' * 64}", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v1", "IfNotPresent"),
])
def test_default_pull_policy_by_tag(image: str, policy: str) -> None:
    assert Container(name="c", image=image).image_pull_policy == policy
    assert parse_ref(image).default_pull_policy == policy


@pytest.mark.parametrize("registry, local", [
    ("localhost", True), ("localhost:5000", True), ("127.0.0.1:5000", True), ("127.8.9.1", True),
    ("[::1]:5000", True), ("docker.io", False), ("10.0.0.1:5000", False), ("localhost.example.com", False),
    ("registry.local:5000", False),
])
def test_loopback_registries(registry: str, local: bool) -> None:
    assert is_loopback(registry) is local


@pytest.mark.parametrize("seconds, text", [
    (0.0, "0s"), (0.0004, "0s"), (0.345, "345ms"), (1.0, "1s"), (1.2345, "1.234s"), (61.5, "1m1.5s"),
    (3723.0, "1h2m3s"),
])
def test_durations_as_go_prints_them(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_event_messages_are_the_kubelets() -> None:
    assert images.pulling_message("nginx") == 'Pulling image "nginx"'
    assert images.present_message("nginx") == 'Container image "nginx" already present on machine'
    assert images.never_pull_message("nginx") == 'Container image "nginx" is not present with pull policy of Never'
    assert images.backoff_message("nginx") == 'Back-off pulling image "nginx"'
    assert images.pulled_message("nginx", 1.5, 2.25, 123) == (
        'Successfully pulled image "nginx" in 1.5s (2.25s including waiting). Image size: 123 bytes.')


def test_image_backoff_doubles_from_10s_to_300s_and_shows_as_image_pull_backoff() -> None:
    view = ContainerView("c", Kind.APP, None, ContainerFacts())
    delays = []
    now = 1000.0
    for _ in range(8):
        facts = on_create_failure(view, 0, "ErrImagePull", "boom", now, IMAGE_BACKOFF)
        delays.append(facts.retry_create_at - now)
        assert facts.waiting_reason == "ErrImagePull"
        # Looked at again within the back-off: ImagePullBackOff, with the kubelet's message.
        shown = in_backoff(facts, "nginx", now + 5)
        assert shown is not None and shown.waiting_reason == "ImagePullBackOff"
        assert shown.waiting_message == 'Back-off pulling image "nginx"'
        assert in_backoff(facts, "nginx", facts.retry_create_at) is None  # due: pulled again instead
        view = ContainerView("c", Kind.APP, None, facts)
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]


def test_only_a_failed_pull_turns_into_image_pull_backoff() -> None:
    facts = ContainerFacts(waiting_reason="CreateContainerConfigError", retry_create_at=2000.0)
    assert in_backoff(facts, "nginx", 1000.0) is None
