"""pyrunc run -f FILE [--timeout DURATION] [--replace]: a foreground mode for CI, like `podman kube play --wait`.

Applies the file's pods (all validated first: nothing is created on bad input), streams every
container's log lines to stdout prefixed with `[CONTAINER]` (`[POD/CONTAINER]` when the file has
several pods), following each container across its restarts and init containers as they start;
waits until every pod has ended (phase Succeeded or Failed), prints a line per pod, deletes the
pods gracefully and exits with the result:

    0                 every pod Succeeded
    the exit code     of the first failing container (init containers first, in spec order)
    1                 a pod failed without one (an image that cannot be pulled, an eviction),
                      or --timeout expired
    130 / 143         interrupted by SIGINT (Ctrl-C) / SIGTERM

A pod with restartPolicy Always never ends by itself (its containers are restarted whatever their
exit), so `run -f` of one runs until --timeout or a signal. An image that cannot be pulled ends the
run as a failure (podman's play does so too), although the kubelet would keep the pod Pending and
retry: in a CI job, waiting for an image that is not there only turns the failure into a timeout.
A pod of the same name already on the node is refused unless --replace (then it is deleted first).
The file is checked exactly as `apply` checks it (supervisor/intake.py: validation, admission, warnings);
its ConfigMaps and Secrets are stored before the pods, and the ones this run created are deleted with them.
Whatever the end, the pods are deleted gracefully before `run` returns (a second Ctrl-C does not cut
that short: nothing is left behind).
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyrunc.cli.common import manifest_texts, parse_timeout
from pyrunc.errors import PyruncError

if TYPE_CHECKING:
    from pyrunc.cli.follow import ContainerLog, LinePrefixer

    Logs = dict[tuple[str, str, str], tuple[ContainerLog, LinePrefixer]]

POLL = 0.1  # seconds between two looks at the pods when no log line came
IMAGE_ERRORS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")


def add_arguments(parser: Any) -> None:
    parser.epilog = ("Exit status: 0 when every pod Succeeded; otherwise the first failing container's exit code "
                     "(1 when none has one, e.g. an image that cannot be pulled); 1 when --timeout expires; "
                     "130/143 on SIGINT/SIGTERM. The pods are deleted gracefully in every case. A pod with "
                     "restartPolicy Always never ends by itself: only --timeout or a signal ends its run.")
    parser.add_argument("-f", "--filename", required=True, help="manifest file, directory of manifests, or - for stdin")
    parser.add_argument("--timeout", default="",
                        help="give up after this long (e.g. 90s, 10m): the pods are deleted, exit status 1")
    parser.add_argument("--replace", action="store_true", help="delete pods of the same names first")


# -------------------------------------------------------------------------------------- pure parts
@dataclass(frozen=True)
class Outcome:
    ended: bool
    succeeded: bool
    text: str  # what the summary line says after pod/NAME
    exit_code: int  # 0, or what `run` exits with for this pod


def outcome(pod: dict[str, Any] | None) -> Outcome:
    """How a pod stands for `run`: ended or not, and if so its summary and exit status."""
    if pod is None:
        return Outcome(True, False, "Failed: deleted while running", 1)
    status = pod.get("status") or {}
    phase = str(status.get("phase", "Pending"))
    statuses = list(status.get("initContainerStatuses", [])) + list(status.get("containerStatuses", []))
    if phase == "Succeeded":
        return Outcome(True, True, "Succeeded", 0)
    if phase == "Failed":
        for st in statuses:
            term = (st.get("state") or {}).get("terminated")
            if term and int(term.get("exitCode", 0)) != 0:
                code = int(term["exitCode"])
                reason = term.get("reason")
                why = f" ({reason})" if reason and reason != "Error" else ""
                return Outcome(True, False, f'Failed: container "{st["name"]}" exited with code {code}{why}', code)
        if status.get("reason"):
            return Outcome(True, False, f"Failed: {status['reason']}: {status.get('message', '')}".rstrip(": "), 1)
        return Outcome(True, False, "Failed", 1)
    for st in statuses:
        waiting = (st.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in IMAGE_ERRORS:
            message = f": {waiting['message']}" if waiting.get("message") else ""
            return Outcome(True, False, f'Failed: container "{st["name"]}" {waiting["reason"]}{message}', 1)
    return Outcome(False, False, phase, 0)


def exit_status(outcomes: list[Outcome]) -> int:
    """0 when every pod succeeded, else the first failing pod's exit status (never 0)."""
    for o in outcomes:
        if not o.succeeded:
            return o.exit_code or 1
    return 0


# -------------------------------------------------------------------------------------- the verb
class Signals:
    """SIGINT and SIGTERM only recorded while pods exist: the loop then deletes them and leaves."""

    def __init__(self) -> None:
        self.received = 0
        self.saved = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum: int, _frame: Any) -> None:
        if not self.received:
            self.received = signum

    def restore(self) -> None:
        for s, handler in self.saved.items():
            signal.signal(s, handler)


def run(cfg: Any, args: Any) -> int:
    from pyrunc.spec import pod_to_dict
    from pyrunc.store.layout import pod_exists
    from pyrunc.store.objects import ObjectStore
    from pyrunc.supervisor.client import request
    from pyrunc.supervisor.intake import check_texts

    limit = parse_timeout(args.timeout) if args.timeout else 0.0
    # Every document is validated and every pod admitted before anything is created, as apply does.
    intake = check_texts(cfg, manifest_texts([args.filename]))
    for warning in intake.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    if intake.refused:
        raise PyruncError(intake.refused)
    pods = list(intake.pods)
    if not pods:
        raise PyruncError(f"{args.filename}: no pod to run")
    store = ObjectStore(cfg.root)
    keys: list[tuple[str, str]] = []
    for pod in pods:
        key = (pod.metadata.namespace, pod.metadata.name)
        if key in keys:
            raise PyruncError(f'pods "{key[1]}": named twice in {args.filename}')
        if pod_exists(cfg.root, *key) and not args.replace:
            raise PyruncError(f'pods "{key[1]}" already exists', hint="delete it first, or run with --replace")
        keys.append(key)
    # The objects that are not there yet are this run's: they go with its pods.
    new_objects = [o for o in intake.objects if store.get(o.kind, o.metadata.namespace, o.metadata.name) is None]
    signals = Signals()
    created: list[tuple[str, str]] = []
    logs: Logs = {}
    try:
        if intake.objects:
            from pyrunc.cli.objects_view import apply_objects

            apply_objects(cfg, list(intake.objects))
        for key in keys:
            if pod_exists(cfg.root, *key):  # --replace
                delete(cfg, key)
                print(f"pod/{key[1]} deleted (--replace)", file=sys.stderr)
        for pod, key in zip(pods, keys):
            if signals.received:
                break
            created.append(key)  # before the request: a pod half made by a failing apply is deleted too
            request(cfg, {"op": "apply", "manifest": pod_to_dict(pod)})
        return follow(cfg, keys, signals, limit, logs)
    finally:
        failure: PyruncError | None = None
        for key in created:
            try:
                delete(cfg, key)
            except PyruncError as e:  # the others are deleted all the same; the first error is reported
                failure = failure or e
        if new_objects:
            from pyrunc.supervisor.client import notify_objects_changed

            for obj in new_objects:
                store.delete(obj.kind, obj.metadata.namespace, obj.metadata.name)
            notify_objects_changed(cfg)
        drain(logs)
        signals.restore()
        if failure is not None:
            raise failure


def drain(logs: Logs) -> None:
    """What the containers wrote while they were stopped (a shutdown message), read through the
    files still open (the log directory went with the pod); then the files are closed."""
    try:
        for log, prefix in logs.values():
            data = log.read(log.instance)
            if data:
                sys.stdout.buffer.write(prefix(render(data)))
        sys.stdout.flush()
    except OSError:  # stdout closed (a pipe whose reader left): nothing more to print
        pass
    finally:
        for log, _ in logs.values():
            log.close()


def delete(cfg: Any, key: tuple[str, str]) -> None:
    from pyrunc.errors import NotFound
    from pyrunc.store.layout import pod_exists, pod_key
    from pyrunc.supervisor.client import request

    if not pod_exists(cfg.root, *key):
        return
    try:
        request(cfg, {"op": "delete", "key": pod_key(*key), "grace": None})
    except NotFound:
        pass


def render(data: bytes) -> bytes:
    """Whole CRI records as the lines the container wrote."""
    from pyrunc.store.logs import parse_records

    return b"".join(r.content + (b"" if r.partial else b"\n") for r in parse_records(data))


def follow(cfg: Any, keys: list[tuple[str, str]], signals: Signals, limit: float, logs: Logs) -> int:
    """Stream the logs until every pod has ended, the time is up or a signal came; the exit status."""
    from pyrunc.cli.follow import ContainerLog, LinePrefixer
    from pyrunc.cli.view import container_on_disk, load_pod
    from pyrunc.errors import NotFound
    from pyrunc.store.paths import pod_paths

    out = sys.stdout.buffer
    start = time.monotonic()
    uids: dict[tuple[str, str], str] = {}
    results: dict[tuple[str, str], Outcome] = {}  # the pods that have ended
    while True:
        outcomes: dict[tuple[str, str], Outcome] = {}
        wrote = False
        for key in keys:
            if key in results:
                continue
            try:
                layout, pod = load_pod(cfg, *key)
            except NotFound:
                outcomes[key] = outcome(None)
                continue
            uid = str(pod["metadata"].get("uid", ""))
            if uids.setdefault(key, uid) != uid:  # deleted and made again by someone else
                outcomes[key] = outcome(None)
                continue
            spec = pod["spec"]
            # The pod is read before the logs: a container it shows ended has its log complete.
            for c in spec.get("initContainers", []) + spec["containers"]:
                lk = (*key, c["name"])
                if lk not in logs:
                    label = f"{key[1]}/{c['name']}" if len(keys) > 1 else c["name"]
                    logs[lk] = (ContainerLog(pod_paths(cfg, pod), c["name"], 0),
                                LinePrefixer(f"[{label}] ".encode()))
                log, prefix = logs[lk]
                data = log.read(int(container_on_disk(layout, c["name"]).get("restartCount", 0)))
                if data:
                    out.write(prefix(render(data)))
                    wrote = True
            outcomes[key] = outcome(pod)
        if wrote:
            out.flush()
        for key, o in outcomes.items():
            if o.ended:
                results[key] = o
                print(f"pod/{key[1]} {o.text} in {time.monotonic() - start:.1f}s", flush=True)
        if len(results) == len(keys):
            return exit_status([results[key] for key in keys])
        if signals.received:
            name = signal.Signals(signals.received).name
            print(f"{name} received: deleting {pods_text(keys)} (graceful)", file=sys.stderr, flush=True)
            return 128 + signals.received
        if limit and time.monotonic() - start >= limit:
            waiting = [f"pod/{k[1]} ({outcomes[k].text})" for k in keys if k not in results and k in outcomes]
            print(f"error: timed out after {args_duration(limit)} waiting for {', '.join(waiting)} to end; "
                  f"deleting {pods_text(keys)}", file=sys.stderr, flush=True)
            return 1
        if not wrote:
            time.sleep(POLL)


def pods_text(keys: list[tuple[str, str]]) -> str:
    return ", ".join(f"pod/{k[1]}" for k in keys)


def args_duration(seconds: float) -> str:
    return f"{seconds:g}s"
