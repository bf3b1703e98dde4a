"""A real OCI registry on loopback for tests: Debian's docker-registry, a token server, a cutting proxy.

    reg = start_registry(tmp_path, auth="basic", users={"alice": "s3cret"}, tls=True)
    push_layout(reg, layout_dir, "app:v1", "app:v1", creds=("alice", "s3cret"))
    ... RegistrySource(parse_ref(f"{reg.host}/app:v1"), ...) ...
    reg.stop()

Pytest fixtures: `registry` (a plain-HTTP registry without auth, per test) and `registry_factory`
(call it with start_registry's keyword arguments; every registry it started is stopped at teardown).

- `Registry`: `/usr/bin/docker-registry serve CONFIG` on 127.0.0.1 and a free port, with its own storage
  and config in its directory; `auth` = "none" | "basic" (htpasswd, bcrypt) | "token" (a TokenServer
  on another loopback port); `tls=True` serves HTTPS with a test CA (`reg.ca_cert`) for 127.0.0.1 and
  localhost. `reg.blob_path(digest)` is where the registry keeps a blob on disk (to tamper with it).
- `TokenServer`: issues RS256 JWTs with an `x5c` header (the registry trusts the signing cert through
  `auth.token.rootcertbundle`). Valid basic credentials get the actions they ask for; no credentials
  get `pull` when `anonymous_pull`, else a token granting nothing (as Docker Hub answers for a
  private repository); wrong credentials get 401.
- `push_layout`: skopeo copies an OCI layout's image (or index, with all its platforms) to the registry.
- `CutProxy`: a plain TCP proxy in front of a registry that cuts the first response for one path after
  N body bytes, or stalls it there until released, and counts the requests (and Range headers) per path.

Processes are stopped by their PID; nothing here looks processes up by name.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"
SERVICE = "pyrunc-test-registry"
ISSUER = "pyrunc-test-token-server"


def missing_tools() -> str:
    """Why the registry tests cannot run here ("" when they can)."""
    missing = [p for p in (REGISTRY_BIN, shutil.which("skopeo") or "skopeo") if not os.path.exists(p)]
    if missing:
        return ("needs Debian's docker-registry and skopeo packages (scripts/setup.sh --test installs them): "
                f"missing {', '.join(missing)}")
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------- PKI

def _name(cn: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject_cn: str, key: Any, issuer_cn: str, issuer_key: Any, *, ca: bool,
          sans: list[Any] | None = None, issuer_pub: Any = None) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(subject_cn)).issuer_name(_name(issuer_cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             (issuer_pub or issuer_key.public_key())), critical=False))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _rsa() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 and localhost: (ca.crt, server.crt, server.key)."""
    import ipaddress

    from cryptography import x509

    directory.mkdir(parents=True, exist_ok=True)
    ca_key, server_key = _rsa(), _rsa()
    ca = _cert("pyrunc test CA", ca_key, "pyrunc test CA", ca_key, ca=True)
    server = _cert("127.0.0.1", server_key, "pyrunc test CA", ca_key, ca=False,
                   sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    paths = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    paths[0].write_bytes(_pem_cert(ca))
    paths[1].write_bytes(_pem_cert(server))
    paths[2].write_bytes(_pem_key(server_key))
    return paths


# ------------------------------------------------------------------------------------- token server

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """The registry's token service (the docker/distribution token spec), on its own loopback port."""

    def __init__(self, directory: Path, users: dict[str, str] | None = None, anonymous_pull: bool = True) -> None:
        from cryptography.hazmat.primitives import serialization

        self.users = dict(users or {})
        self.anonymous_pull = anonymous_pull
        self.requests: list[dict[str, Any]] = []  # {"scope": [...], "user": str | None, "status": int}
        self._key = _rsa()
        cert = _cert("pyrunc test token signer", self._key, "pyrunc test token signer", self._key, ca=True)
        self.cert_path = directory / "token-signer.crt"
        directory.mkdir(parents=True, exist_ok=True)
        self.cert_path.write_bytes(_pem_cert(cert))
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        server = self
        self.port = free_port()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                status, body = server.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="pyrunc test token server"')
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        query = parse_qs(urlsplit(path).query)
        scopes = query.get("scope", [])
        user = None
        if authorization.startswith("Basic "):
            name, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if self.users.get(name) != password:
                self.requests.append({"scope": scopes, "user": name, "status": 401})
                return 401, {"details": "incorrect username or password"}
            user = name
        self.requests.append({"scope": scopes, "user": user, "status": 200})
        if query.get("service", [""])[0] != SERVICE:
            return 400, {"details": "unknown service"}
        access = []
        for scope in scopes:  # repository:NAME:ACTIONS (a NAME may hold no colon; a port is not in it)
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            granted = wanted if user else (["pull"] if self.anonymous_pull and "pull" in wanted else [])
            access.append({"type": kind, "name": name, "actions": granted})
        return 200, {"token": self.sign(user or "", access), "expires_in": 300}

    def sign(self, subject: str, access: list[dict[str, Any]]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


# ----------------------------------------------------------------------------------------- registry

@dataclass
class Registry:
    """One docker-registry process and everything it owns (its directory is removed by stop())."""

    directory: Path
    port: int
    auth: str = "none"
    users: dict[str, str] = field(default_factory=dict)
    tls: bool = False
    ca_cert: Path | None = None
    token_server: TokenServer | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """What an image reference names: 127.0.0.1:PORT."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def storage(self) -> Path:
        return self.directory / "storage"

    def blob_path(self, digest: str) -> Path:
        """The file the registry serves a blob from (filesystem driver layout)."""
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexd[:2] / hexd / "data"

    def _config(self) -> str:
        lines = ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: true", "storage:",
                 "  filesystem:", f"    rootdirectory: {self.storage}", "  delete:", "    enabled: true",
                 "  redirect:", "    disable: true", "http:", f"  addr: 127.0.0.1:{self.port}",
                 f"  secret: {secrets.token_hex(16)}"]
        if self.tls:
            tls_dir = self.directory / "tls"
            self.ca_cert, cert, key = make_tls(tls_dir)
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if self.auth == "basic":
            import bcrypt

            htpasswd = self.directory / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
                                        for u, p in self.users.items()))
            lines += ["auth:", "  htpasswd:", "    realm: pyrunc-test", f"    path: {htpasswd}"]
        elif self.auth == "token":
            assert self.token_server is not None
            lines += ["auth:", "  token:", f"    realm: {self.token_server.realm}", f"    service: {SERVICE}",
                      f"    issuer: {ISSUER}", f"    rootcertbundle: {self.token_server.cert_path}"]
        return "\n".join(lines) + "\n"

    def start(self) -> Registry:
        """Start the process (again, after stop_process) and wait until /v2/ answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.yml"
        if not config.exists():
            config.write_text(self._config())
        log = open(self.directory / "registry.log", "ab")  # noqa: SIM115 (the child holds it)
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        context = ssl.create_default_context(cafile=str(self.ca_cert)) if self.tls else None
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}: "
                                   f"{(self.directory / 'registry.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/v2/", timeout=2, context=context).close()
                return self
            except urllib.error.HTTPError:  # 401 when auth is on: it answers
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("docker-registry did not answer on /v2/ within 30 s") from None
                time.sleep(0.1)

    def stop_process(self) -> None:
        """Stop the registry process only (its storage stays: start() brings it back)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """Stop everything and remove the registry's directory."""
        self.stop_process()
        if self.token_server is not None:
            self.token_server.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_registry(directory: Path, *, auth: str = "none", users: dict[str, str] | None = None,
                   tls: bool = False, anonymous_pull: bool = True) -> Registry:
    """A running registry in `directory` (created). `auth`: "none", "basic" or "token"."""
    if auth not in ("none", "basic", "token"):
        raise ValueError(f"auth: {auth!r}")
    token = TokenServer(directory / "token", users, anonymous_pull) if auth == "token" else None
    return Registry(directory, free_port(), auth, dict(users or {}), tls, token_server=token).start()


def push_layout(registry: Registry, layout_dir: Path, name: str, dest_name: str, *, index: bool = False,
                docker_v2: bool = False, creds: tuple[str, str] | None = None) -> None:
    """skopeo copy oci:LAYOUT:NAME docker://REGISTRY/DEST_NAME (`dest_name` = "repo:tag").

    `index=True` copies every platform of an index (--all). `docker_v2=True` converts to Docker
    schema 2 types (gzip layers only: Docker types have no zstd). Blobs are copied as they are
    (--preserve-digests: a zstd layer stays zstd, an uncompressed one uncompressed).
    """
    cmd = ["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--retry-times", "0"]
    if index:
        cmd.append("--all")
    if docker_v2:
        cmd += ["--format", "v2s2"]
    else:
        cmd.append("--preserve-digests")
    if creds:
        cmd += ["--dest-creds", f"{creds[0]}:{creds[1]}"]
    else:
        cmd.append("--dest-no-creds")
    cmd += [f"oci:{layout_dir}:{name}", f"docker://{registry.host}/{dest_name}"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "REGISTRY_AUTH_FILE": str(registry.directory / "no-auth.json")})
    if run.returncode != 0:
        raise RuntimeError(f"skopeo copy failed: {run.stderr.strip()}")


def manifest_digest(layout_dir: Path, name: str) -> str:
    """The digest index.json of an OCI layout gives the image `name` (what a registry will serve)."""
    for m in json.loads((Path(layout_dir) / "index.json").read_text())["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == name:
            return str(m["digest"])
    raise KeyError(name)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


# ---------------------------------------------------------------------------------------- cut proxy

class CutProxy:
    """127.0.0.1:PORT -> the registry, one request per connection (it asks both sides to close).

    `cut(path_part, after)`: the first response to a request whose path contains `path_part` is cut
    after `after` body bytes (the connection is closed). `stall(path_part, after)`: that response stops
    after `after` body bytes with the connection left open (a hung transfer) until the returned event
    is set (or the proxy stops), then goes on. `requests[path]` lists the Range header of every request
    for that path ("" when none), so a test can assert a resumed fetch.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: dict[str, list[str]] = {}
        self._cut: tuple[str, int, threading.Event | None] | None = None
        self._holds: list[threading.Event] = []
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut(self, path_part: str, after: int) -> None:
        self._cut = (path_part, after, None)

    def stall(self, path_part: str, after: int) -> threading.Event:
        hold = threading.Event()
        self._holds.append(hold)
        self._cut = (path_part, after, hold)
        return hold

    def count(self, path_part: str) -> int:
        return sum(len(v) for k, v in self.requests.items() if path_part in k)

    def ranges(self, path_part: str) -> list[str]:
        return [r for k, v in self.requests.items() if path_part in k for r in v]

    def _serve(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(conn)
            conn.settimeout(30)
            head = conn.recv(65536)
            if head[:1] == b"\x16":
                # A TLS ClientHello (an HTTPS attempt): passed on untouched, the registry refuses it.
                upstream = stack.enter_context(socket.create_connection(("127.0.0.1", self.upstream_port)))
                upstream.sendall(head)
                self._relay(upstream, conn, None)
                return
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data or len(head) > 1 << 16:
                    return
                head += data
            head_part, _, rest = head.partition(b"\r\n\r\n")
            lines = head_part.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[1].startswith("/"):
                return
            path = parts[1]
            headers = [h for h in lines[1:] if not h.lower().startswith(("connection:", "keep-alive:"))]
            range_value = next((h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("range:")), "")
            cut_after, hold = None, None
            with self._lock:
                self.requests.setdefault(path, []).append(range_value)
                if self._cut and self._cut[0] in path:
                    (_, cut_after, hold), self._cut = self._cut, None
            request = "\r\n".join([lines[0], *headers, "Connection: close"]).encode("latin-1") + b"\r\n\r\n" + rest
            upstream = stack.enter_context(socket.create_connection(("127.0.0.1", self.upstream_port)))
            upstream.settimeout(30)
            upstream.sendall(request)
            self._relay(upstream, conn, cut_after, hold)

    @staticmethod
    def _relay(upstream: socket.socket, conn: socket.socket, cut_after: int | None,
               hold: threading.Event | None = None) -> None:
        if hold is not None and cut_after is not None:
            CutProxy._relay_stalled(upstream, conn, cut_after, hold)
            return
        seen = b""
        body = None  # body bytes relayed so far, once the response head has passed
        while True:
            try:
                data = upstream.recv(65536)
            except OSError:
                return
            if not data:
                return
            if cut_after is not None:
                if body is None:
                    seen += data
                    if b"\r\n\r\n" in seen:
                        head, _, tail = seen.partition(b"\r\n\r\n")
                        body = len(tail)
                        if body >= cut_after:
                            conn.sendall(head + b"\r\n\r\n" + tail[:cut_after])
                            return
                        conn.sendall(seen)
                    continue
                if body + len(data) >= cut_after:
                    conn.sendall(data[:cut_after - body])
                    return
                body += len(data)
            try:
                conn.sendall(data)
            except OSError:
                return

    @staticmethod
    def _relay_stalled(upstream: socket.socket, conn: socket.socket, after: int, hold: threading.Event) -> None:
        """The response head and `after` body bytes, then nothing until `hold` is set, then the rest."""
        pending = b""
        while b"\r\n\r\n" not in pending or len(pending.partition(b"\r\n\r\n")[2]) < after:
            try:
                data = upstream.recv(65536)
            except OSError:
                return
            if not data:
                break
            pending += data
        head, _, body = pending.partition(b"\r\n\r\n")
        try:
            conn.sendall(head + b"\r\n\r\n" + body[:after])
            hold.wait()
            conn.sendall(body[after:])
            upstream.settimeout(30)
            while data := upstream.recv(65536):
                conn.sendall(data)
        except OSError:
            return

    def stop(self) -> None:
        self._stopped = True
        for hold in self._holds:
            hold.set()  # a stalled relay goes on (to a client that may be gone) and ends
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self._sock.close()
        self._thread.join(timeout=10)


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[Callable[..., Registry]]:
    """start(**start_registry keywords) -> Registry; all of them are stopped at teardown."""
    if why := missing_tools():
        pytest.skip(why)
    started: list[Registry] = []

    def start(**kwargs: Any) -> Registry:
        reg = start_registry(tmp_path / f"registry{len(started)}", **kwargs)
        started.append(reg)
        return reg

    yield start
    for reg in started:
        reg.stop()


@pytest.fixture
def registry(registry_factory: Callable[..., Registry]) -> Registry:
    """A plain-HTTP registry without auth on 127.0.0.1."""
    return registry_factory()
