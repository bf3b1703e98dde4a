"""The CRI gRPC server (`pyrunc cri`): RuntimeService and ImageService of runtime.v1 on a unix socket.

This process is the edge: grpcio serves each call on a thread of its pool, and each sandbox or container
call becomes one request to the node's supervisor (pyrunc/cri/pods.py), which owns the runtime service and
runs no threads. Requests and answers cross as the JSON mapping of the protobuf messages (proto field
names), so the supervisor never imports protobuf. Image calls use the node's image store directly, as
`pyrunc image` does (the store locks its own index). A call pyrunc does not serve answers UNIMPLEMENTED:
the generated servicer's default for every RPC not overridden here.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent import futures
from typing import Any, Callable

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

import pyrunc
from pyrunc.config import NodeConfig
from pyrunc.cri import api_pb2 as pb
from pyrunc.cri import api_pb2_grpc as pb_grpc
from pyrunc.cri.execsync import exec_sync
from pyrunc.cri.streaming import StreamServer
from pyrunc.cri.translate import CriError, nanos, pull_credentials
from pyrunc.errors import ImageError, PyruncError
from pyrunc.supervisor import client

log = logging.getLogger("pyrunc.cri")
WORKERS = 8  # concurrent calls; each one waits on the supervisor, which serves them one after another
# The calls the supervisor serves (pyrunc/cri/pods.py CriRuntime): forwarded as they come.
SUPERVISED = ("RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus", "ListPodSandbox",
              "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer", "ListContainers",
              "ContainerStatus", "UpdateContainerResources", "ContainerStats", "ListContainerStats",
              "PodSandboxStats", "ListPodSandboxStats", "ReopenContainerLog")


def _code(error: PyruncError) -> grpc.StatusCode:
    name = str(getattr(error, "code", "") or "UNKNOWN")
    return getattr(grpc.StatusCode, name, grpc.StatusCode.UNKNOWN)


def _abort(context: grpc.ServicerContext, error: PyruncError) -> Any:
    context.abort(_code(error), error.message)


def _to_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return out


class Runtime(pb_grpc.RuntimeServiceServicer):
    def __init__(self, cfg: NodeConfig, streams: StreamServer) -> None:
        self.cfg = cfg
        self.streams = streams

    def supervisor(self, call: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = client.request(self.cfg, {"op": "cri", "call": call, "request": body})
        response = reply.get("response")
        return response if isinstance(response, dict) else {}

    def Version(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - CRI's names
        return pb.VersionResponse(version="0.1.0", runtime_name="pyrunc", runtime_version=pyrunc_version(),
                                  runtime_api_version="v1")

    def Status(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        conditions = [pb.RuntimeCondition(type="RuntimeReady", status=True),
                      pb.RuntimeCondition(type="NetworkReady", status=True)]
        return pb.StatusResponse(status=pb.RuntimeStatus(conditions=conditions),
                                 runtime_handlers=[pb.RuntimeHandler(name="", features=pb.RuntimeHandlerFeatures())])

    def RuntimeConfig(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        # pyrunc writes cgroupfs itself (pyrunc/cgroups/), never through systemd.
        return pb.RuntimeConfigResponse(linux=pb.LinuxRuntimeConfiguration(cgroup_driver=pb.CGROUPFS))

    def UpdateRuntimeConfig(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        # The kubelet sends the node's pod CIDR; pyrunc's pods take their addresses from its own pod_subnet.
        cidr = request.runtime_config.network_config.pod_cidr
        if cidr:
            log.info("the kubelet's pod CIDR is %s (pyrunc allocates from its pod_subnet %s)", cidr, self.cfg.pod_subnet)
        return pb.UpdateRuntimeConfigResponse()

    def GetContainerEvents(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Server-streaming: the supervisor's container events as they happen, by long polls (one request
        waits there until an event comes or a few seconds pass), for as long as the client listens."""
        epoch, after = "", None
        while context.is_active():
            try:
                reply = self.supervisor("ContainerEvents", {"epoch": epoch, "after": after})
            except PyruncError as e:
                return _abort(context, e)
            epoch, after = str(reply.get("epoch", "")), int(reply.get("seq", 0))
            for event in reply.get("events", []):
                body = {k: v for k, v in event.items() if k != "seq"}
                yield json_format.ParseDict(body, pb.ContainerEventResponse(), ignore_unknown_fields=True)
        return None

    def ExecSync(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        try:
            where = self.supervisor("ExecTarget", {"container_id": request.container_id})
            outcome = exec_sync(self.cfg.root, str(where["namespace"]), str(where["pod"]), str(where["container"]),
                                list(request.cmd), float(request.timeout))
        except PyruncError as e:
            return _abort(context, e)
        return pb.ExecSyncResponse(stdout=outcome.stdout, stderr=outcome.stderr, exit_code=outcome.exit_code)

    # Exec, Attach, PortForward: checked here, served by the streaming server at the URL answered (streaming.py).
    def Exec(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        try:
            return pb.ExecResponse(url=self.streams.url("exec", self._streamed(request, list(request.cmd))))
        except PyruncError as e:
            return _abort(context, e)

    def Attach(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        try:
            return pb.AttachResponse(url=self.streams.url("attach", self._streamed(request, None)))
        except PyruncError as e:
            return _abort(context, e)

    def PortForward(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        try:
            where = self.supervisor("PortForwardTarget", {"pod_sandbox_id": request.pod_sandbox_id})
            target = {"namespace": where["namespace"], "pod": where["pod"], "sandbox_id": request.pod_sandbox_id,
                      "ports": list(request.port)}
            return pb.PortForwardResponse(url=self.streams.url("portforward", target))
        except PyruncError as e:
            return _abort(context, e)

    def _streamed(self, request: Any, cmd: list[str] | None) -> dict[str, Any]:
        from pyrunc.cri.stream_session import check_streams

        check_streams(cmd, request.tty, request.stdin, request.stdout, request.stderr)
        where = self.supervisor("ExecTarget", {"container_id": request.container_id})
        return {"namespace": where["namespace"], "pod": where["pod"], "container": where["container"],
                "cmd": cmd, "tty": request.tty, "stdin": request.stdin, "stdout": request.stdout,
                "stderr": request.stderr}


def _forward(call: str) -> Callable[[Runtime, Any, grpc.ServicerContext], Any]:
    response_type = getattr(pb, f"{call}Response")

    def method(self: Runtime, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            answer = self.supervisor(call, _to_dict(request))
        except PyruncError as e:
            return _abort(context, e)
        return json_format.ParseDict(answer, response_type(), ignore_unknown_fields=True)

    method.__name__ = call
    return method


for _call in SUPERVISED:
    setattr(Runtime, _call, _forward(_call))


class Images(pb_grpc.ImageServiceServicer):
    def __init__(self, cfg: NodeConfig) -> None:
        from pyrunc.images.store import ImageStore

        self.cfg = cfg
        self.store = ImageStore(cfg.images_dir)

    def _image(self, img: Any) -> Any:
        user = img.config.user.split(":", 1)[0] if img.config.user else ""
        out = pb.Image(id=img.id, repo_tags=list(img.names), repo_digests=list(img.repo_digests()), size=img.size,
                       spec=pb.ImageSpec(image=img.id))
        if user.isdigit():
            out.uid.value = int(user)
        elif user:
            out.username = user
        return out

    def _find(self, text: str) -> Any:
        from pyrunc.images.store import InvalidImageName

        try:
            return self.store.find(text)
        except InvalidImageName:
            return None

    def ListImages(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        wanted = request.filter.image.image
        images = [self._find(wanted)] if wanted else self.store.images()
        return pb.ListImagesResponse(images=[self._image(i) for i in images if i is not None])

    def ImageStatus(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        img = self._find(request.image.image)
        return pb.ImageStatusResponse(image=self._image(img)) if img is not None else pb.ImageStatusResponse()

    def PullImage(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        from pyrunc.images.pull import pull_image

        text = request.image.image
        if not text:
            return _abort(context, CriError("image.image: Required value"))
        try:
            credentials = self._credentials(request, text)  # a bad auth is refused whatever the store has
        except PyruncError as e:
            return _abort(context, e)
        present = self._find(text)
        if self.cfg.offline and present is not None:
            # An offline node (config.json `offline`) cannot ask the registry for a newer image: what it has is it.
            return pb.PullImageResponse(image_ref=present.id)
        try:
            img = pull_image(self.cfg, text, credentials=credentials)
        except PyruncError as e:
            return _abort(context, e)
        return pb.PullImageResponse(image_ref=img.id)

    @staticmethod
    def _credentials(request: Any, text: str) -> Any:
        """The request's own AuthConfig for the image's registry (None: the node's auth files are looked up)."""
        from pyrunc.images.reference import parse_ref

        if not request.HasField("auth"):
            return None
        return pull_credentials(_to_dict(request.auth), parse_ref(text).registry)

    def RemoveImage(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        from pyrunc.images.store import NotPresent

        try:
            self.store.remove(request.image.image)
        except NotPresent:
            pass  # idempotent, as CRI asks
        except ImageError as e:
            e.code = "FAILED_PRECONDITION"  # type: ignore[attr-defined]
            return _abort(context, e)
        return pb.RemoveImageResponse()

    def ImageFsInfo(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        used = inodes = 0
        for dirpath, dirs, files in os.walk(self.cfg.images_dir):
            for name in files:
                try:
                    used += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                except OSError:
                    continue
            inodes += len(files) + len(dirs)
        usage = pb.FilesystemUsage(timestamp=nanos(_now()), fs_id=pb.FilesystemIdentifier(mountpoint=self.cfg.images_dir),
                                   used_bytes=pb.UInt64Value(value=used), inodes_used=pb.UInt64Value(value=inodes))
        return pb.ImageFsInfoResponse(image_filesystems=[usage])


def _now() -> float:
    import time

    return time.time()


def pyrunc_version() -> str:
    return pyrunc.__version__


def socket_path(listen: str) -> str:
    """The path of a `unix:///ABSOLUTE/PATH` endpoint (the kubelet's --container-runtime-endpoint form)."""
    if not listen.startswith("unix://") or not listen[len("unix://"):].startswith("/"):
        raise PyruncError(f'--listen: expected unix:///ABSOLUTE/PATH, got "{listen}"')
    return listen[len("unix://"):]


def serve(cfg: NodeConfig, listen: str, ready: Callable[[str], None] | None = None,
          stream_address: str = "127.0.0.1", stream_port: int = 0) -> int:
    """Serve until SIGTERM or SIGINT; the socket is removed on the way out. The streaming server (Exec, Attach,
    PortForward) listens on stream_address:stream_port (0: a port the kernel picks)."""
    path = socket_path(listen)
    try:
        streams = StreamServer(cfg.root, stream_address, stream_port)
    except OSError as e:
        raise PyruncError(f"--stream-address/--stream-port: cannot listen on {stream_address}:{stream_port}: "
                          f"{e.strerror or e}") from None
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)  # a socket a previous `pyrunc cri` left
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKERS))
    pb_grpc.add_RuntimeServiceServicer_to_server(Runtime(cfg, streams), server)
    pb_grpc.add_ImageServiceServicer_to_server(Images(cfg), server)
    old_umask = os.umask(0o077)  # the socket is root's: whoever reaches it runs containers
    try:
        if server.add_insecure_port(f"unix://{path}") == 0:
            raise PyruncError(f"--listen: cannot listen on {path}")
    finally:
        os.umask(old_umask)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    streams.start()
    log.info("streaming server on %s:%d", stream_address, streams.port)
    if ready is not None:
        ready(path)
    try:
        stop.wait()
    finally:
        streams.stop()
        server.stop(grace=2).wait()
        if os.path.exists(path):
            os.unlink(path)
    return 0
