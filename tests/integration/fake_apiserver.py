"""The least of a Kubernetes API server that a real `kubectl exec/attach/port-forward` needs, on loopback, for the
tests: discovery, one Running pod, and its exec/attach/portforward subresources proxied, upgrade and all, to a
streaming URL of `pyrunc cri` that the test asked for first (as the kubelet proxies them to its runtime's URL)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse
from pathlib import Path
from typing import Any

POD_RESOURCES = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "shortNames": ["po"],
     "verbs": ["get", "list"]},
    {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions", "verbs": ["create", "get"]},
    {"name": "pods/attach", "singularName": "", "namespaced": True, "kind": "PodAttachOptions",
     "verbs": ["create", "get"]},
    {"name": "pods/portforward", "singularName": "", "namespaced": True, "kind": "PodPortForwardOptions",
     "verbs": ["create", "get"]}]}


class FakeApiServer:
    def __init__(self, pod: str, container: str) -> None:
        self.pod = pod
        self.container = container
        self.target = ""  # the streaming URL the next exec/attach/portforward goes to
        self.requests: list[str] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        setattr(self.httpd, "fake", self)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def kubeconfig(self, directory: Path) -> str:
        path = directory / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "me", "namespace": "default"}}],
            "users": [{"name": "me", "user": {}}]}))
        return str(path)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        fake: FakeApiServer = getattr(self.server, "fake")
        url = urllib.parse.urlsplit(self.path)
        fake.requests.append(f"{self.command} {url.path}")
        pod_path = f"/api/v1/namespaces/default/pods/{fake.pod}"
        if url.path == "/api":
            self._json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        elif url.path == "/apis":
            self._json({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        elif url.path == "/api/v1":
            self._json(POD_RESOURCES)
        elif url.path == pod_path:
            self._json({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": fake.pod, "namespace": "default", "uid": "0"},
                        "spec": {"containers": [{"name": fake.container, "image": "busybox"}]},
                        "status": {"phase": "Running"}})
        elif url.path.startswith(pod_path + "/") and url.path.rsplit("/", 1)[1] in ("exec", "attach", "portforward"):
            self._proxy(fake.target, url.query)
        else:
            self._json({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                        "code": 404}, 404)

    def _json(self, body: dict[str, Any], code: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _proxy(self, target: str, query: str) -> None:
        """The request passed on to the streaming URL, then the bytes both ways (the kubelet's upgrade-aware proxy)."""
        parts = urllib.parse.urlsplit(target)
        upstream = socket.create_connection((parts.hostname, parts.port))
        lines = [f"{self.command} {parts.path}{'?' + query if query else ''} HTTP/1.1"]
        for name, value in self.headers.items():
            lines.append(f"{name}: {parts.netloc if name.lower() == 'host' else value}")
        upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        client = self.connection  # kubectl waits for the upgrade's answer: nothing of it is buffered in rfile yet

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join()
        upstream.close()
        self.close_connection = True
