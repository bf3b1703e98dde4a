"""A client of the OCI distribution API: resolve a reference to a manifest, fetch blobs.

The only module that imports httpx (the CLI's start-up time matters). One `httpx.Client` per
source; it is thread-safe, so the store may fetch several layers at once.

Where a registry is reached (`endpoints`, pure):
- `docker.io` is served from `registry-1.docker.io`.
- HTTPS, verified against the system trust store (`/etc/ssl/certs/ca-certificates.crt`, as containerd
  and podman use it) plus `<certs_dir>/<host[:port]>/*.crt`; a client certificate from `*.cert` +
  `*.key` there (docker's certs.d layout).
- A registry listed in `insecure` gets HTTPS without verification, then plain HTTP if that fails.
- A loopback registry (`localhost`, 127.0.0.0/8, [::1]) gets verified HTTPS, then plain HTTP if
  that fails for any reason but a certificate that does not verify: a loopback registry that
  speaks TLS must present a certificate we trust (its CA in certs_dir), or be listed as insecure.
- Any other registry: HTTPS only, never plain HTTP.

Auth (`_Auth`): a 401 carries a challenge. Bearer: a token is fetched from the realm for the
scope (with basic credentials when we have some, anonymously otherwise, as Docker Hub's public
images are pulled), cached per scope and sent with the retried request. Basic: the credentials
are sent. A second 401/403 is `unauthorized`.

Errors are PullError with one line worded like containerd's (`failed to resolve reference
"...": ... not found`), never a traceback, never a password.
"""

from __future__ import annotations

import base64
import contextlib
import os
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from pyrunc.errors import ImageError
from pyrunc.images import media
from pyrunc.images.auth import Challenge, Credentials, lookup_credentials, parse_challenges
from pyrunc.images.reference import ImageRef, is_loopback
from pyrunc.images.source import BlobWriter, Progress, PullError, Resolved

if TYPE_CHECKING:
    from pyrunc.images.media import Descriptor, Platform

__all__ = ["Credentials", "Endpoint", "RegistrySettings", "RegistrySource", "api_host", "endpoints",
           "is_loopback", "lookup_credentials"]

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
# A transfer (blob or manifest) is tried this many times within one call when the connection fails
# or the registry answers 5xx; a blob transfer continues where the previous attempt stopped.
ATTEMPTS = 3
RETRY_PAUSE = 0.5  # seconds before the second attempt, doubled for each further one
CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    insecure: tuple[str, ...] = ()  # host[:port] allowed unverified TLS, then plain HTTP
    certs_dir: str = ""  # <certs_dir>/<host[:port]>/{*.crt CAs, *.cert + *.key client pairs}; "" = none
    auth_files: tuple[str, ...] = ()  # docker-style config.json files, searched in order
    timeout: float = 30.0  # seconds for connecting and for each read
    user_agent: str = "pyrunc"


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str  # "https" or "http"
    host: str  # host[:port] the API is served on
    verify: bool  # verify the TLS certificate (https only)
    fallback: str  # when the next endpoint is tried: "never", "not_cert" (any failure but a bad
    #               certificate) or "any"

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"


def api_host(registry: str) -> str:
    """The host[:port] serving the API of `registry` (a reference's registry part)."""
    return DOCKER_HUB_API if registry == DOCKER_HUB else registry


def endpoints(registry: str, insecure: Sequence[str]) -> tuple[Endpoint, ...]:
    """Where to reach `registry`, in order of preference (see the module's docstring)."""
    host = api_host(registry)
    if registry in insecure or host in insecure:
        return (Endpoint("https", host, False, "any"), Endpoint("http", host, False, "never"))
    if is_loopback(registry):
        return (Endpoint("https", host, True, "not_cert"), Endpoint("http", host, False, "never"))
    return (Endpoint("https", host, True, "never"),)


def realm_allowed(url: str, insecure: Sequence[str]) -> bool:
    """A token realm is asked over HTTPS, or over HTTP only on loopback or an insecure host
    (credentials are sent there)."""
    parsed = httpx.URL(url)
    if parsed.scheme == "https":
        return True
    netloc = parsed.netloc.decode("ascii")
    return parsed.scheme == "http" and (is_loopback(netloc) or netloc in insecure)


def tls_context(host: str, settings: RegistrySettings, verify: bool) -> ssl.SSLContext:
    """The system trust store plus this registry's own CAs and client certificate from certs_dir."""
    if not verify:
        # Not create_default_context(): it loads the system's CAs (~25 ms) that an unverified
        # context never uses (the plain-HTTP fallback of a loopback registry gets this one too).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif os.path.exists(SYSTEM_CA_BUNDLE):
        ctx = ssl.create_default_context(cafile=SYSTEM_CA_BUNDLE)
    else:
        ctx = ssl.create_default_context()
    directory = os.path.join(settings.certs_dir, host) if settings.certs_dir else ""
    if directory and os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            try:
                if name.endswith(".crt") and verify:
                    ctx.load_verify_locations(cafile=path)
                elif name.endswith(".cert"):
                    key = path[:-len(".cert")] + ".key"
                    if not os.path.exists(key):
                        raise ImageError(f"{path}: client certificate without its key {key}")
                    ctx.load_cert_chain(path, key)
            except (ssl.SSLError, OSError) as e:
                raise ImageError(f"{path}: cannot load this certificate: {e.strerror or e}") from None
    return ctx


class _Retry(Exception):
    """A transfer failed in a way worth another attempt (connection lost, 5xx)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _describe(exc: BaseException) -> str:
    """A transport failure in plain words (the innermost cause, without Python's class names)."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"tls: failed to verify certificate: {e.verify_message or e.reason}"
        if isinstance(e, ssl.SSLError):
            return f"tls: {e.reason or e}"
        if isinstance(e, ConnectionRefusedError):
            return "connect: connection refused"
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower() if "Name or service" not in e.strerror else "no such host"
    if isinstance(exc, httpx.TimeoutException):
        return "i/o timeout"
    text = str(exc) or type(exc).__name__
    if "Name or service not known" in text or "nodename nor servname" in text or "No address" in text:
        return "no such host"
    if "Connection refused" in text:
        return "connect: connection refused"
    return text.splitlines()[0]


def _cert_failure(exc: BaseException) -> bool:
    cur: BaseException | None = exc
    for _ in range(10):
        if cur is None:
            return False
        if isinstance(cur, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _registry_error(response: httpx.Response) -> tuple[str, str]:
    """(first error code, its message) of a distribution error body, or ("", "")."""
    with contextlib.suppress(ValueError, AttributeError, KeyError, IndexError, TypeError):
        first = response.json()["errors"][0]
        return str(first.get("code", "")), str(first.get("message", ""))
    return "", ""


class RegistrySource:
    """An ImageSource reading one reference from a registry (see the module's docstring)."""

    def __init__(self, ref: ImageRef, settings: RegistrySettings | None = None,
                 credentials: Credentials | None = None) -> None:
        self.ref = ref
        self.settings = settings or RegistrySettings()
        self.description = f"docker://{ref}"
        self._credentials = credentials
        self._credentials_looked_up = credentials is not None
        self._endpoints = endpoints(ref.registry, self.settings.insecure)
        self._endpoint: Endpoint | None = None
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}  # scope -> bearer token
        self._challenge: Challenge | None = None
        self._clients: dict[bool, httpx.Client] = {}

    # ---------------------------------------------------------------------------------- plumbing

    def _client(self, verify: bool) -> httpx.Client:
        """The source's client. An insecure registry (TLS unverified) whose token realm is elsewhere
        gets a second, verifying client for the realm: verification is dropped for that registry only."""
        with self._lock:
            client = self._clients.get(verify)
            if client is None:
                client = httpx.Client(
                    verify=tls_context(api_host(self.ref.registry), self.settings, verify),
                    timeout=httpx.Timeout(self.settings.timeout), follow_redirects=True, trust_env=False,
                    headers={"User-Agent": self.settings.user_agent})
                self._clients[verify] = client
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    def __enter__(self) -> RegistrySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def endpoint(self) -> Endpoint | None:
        """Where the registry was reached (None before the first request, or when it could not be)."""
        return self._endpoint

    @property
    def _ref_text(self) -> str:
        return str(self.ref)

    def credentials(self) -> Credentials | None:
        if not self._credentials_looked_up:
            self._credentials = lookup_credentials(self.ref.registry, self.settings.auth_files)
            self._credentials_looked_up = True
        return self._credentials

    def _connect(self, what: str) -> Endpoint:
        """Choose the endpoint once: GET /v2/ on each candidate until one answers over HTTP."""
        if self._endpoint is not None:
            return self._endpoint
        failure = ""
        for ep in self._endpoints:
            url = f"{ep.base}/v2/"
            try:
                response = self._client(ep.verify).get(url)
            except httpx.TransportError as e:
                failure = f'{what}: failed to do request: Get "{url}": {_describe(e)}'
                if ep.fallback == "never" or (ep.fallback == "not_cert" and _cert_failure(e)):
                    break
                continue
            with self._lock:
                self._endpoint = ep
                if response.status_code == 401:
                    self._challenge = self._pick(response)
            return ep
        raise PullError("unreachable", failure)

    def _pick(self, response: httpx.Response) -> Challenge | None:
        challenges = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        for scheme in ("bearer", "basic"):
            for c in challenges:
                if c.scheme == scheme:
                    return c
        return None

    def _scope(self, challenge: Challenge) -> str:
        return challenge.get("scope") or f"repository:{self.ref.repository}:pull"

    def _auth_header(self, challenge: Challenge | None, refresh: bool, what: str) -> dict[str, str]:
        if challenge is None:
            return {}
        creds = self.credentials()
        if challenge.scheme == "bearer" and creds is not None and creds.registry_token:
            return {"Authorization": f"Bearer {creds.registry_token}"}
        if challenge.scheme == "basic":
            if creds is not None and not creds.username and creds.registry_token:
                return {}
            if creds is None:
                return {}
            raw = f"{creds.username}:{creds.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        scope = self._scope(challenge)
        with self._lock:
            token = None if refresh else self._tokens.get(scope)
        if token is None:
            token = self._fetch_token(challenge, scope, what)
            with self._lock:
                self._tokens[scope] = token
        return {"Authorization": f"Bearer {token}"}

    def _fetch_token(self, challenge: Challenge, scope: str, what: str) -> str:
        realm = challenge.get("realm")
        creds = self.credentials()
        how = "oauth" if creds else "anonymous"
        if not realm:
            raise PullError("unauthorized", f"{what}: failed to authorize: the bearer challenge names no realm")
        if not realm_allowed(realm, self.settings.insecure):
            raise PullError("unauthorized", f"{what}: failed to authorize: refusing to fetch a token from {realm} over "
                                            "plain HTTP (only loopback or insecure registries may use HTTP)")
        params: list[tuple[str, str | int | float | bool | None]] = [("scope", s) for s in scope.split(" ") if s]
        if challenge.get("service"):
            params.insert(0, ("service", challenge.get("service")))
        auth = httpx.BasicAuth(creds.username, creds.password) if creds else None
        try:
            response = self._client(True).get(realm, params=params, auth=auth)
        except httpx.TransportError as e:
            raise PullError("unreachable", f'{what}: failed to authorize: failed to fetch {how} token: '
                                           f'Get "{realm}": {_describe(e)}') from None
        if response.status_code != 200:
            kind = "unauthorized" if response.status_code in (401, 403) else "unreachable"
            raise PullError(kind, f"{what}: failed to authorize: failed to fetch {how} token: unexpected status from "
                                  f"GET request to {realm}: {response.status_code} {response.reason_phrase}")
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise PullError("unauthorized", f"{what}: failed to authorize: the token server {realm} answered no token")
        return token

    @contextlib.contextmanager
    def _open(self, path: str, headers: dict[str, str], what: str) -> Iterator[httpx.Response]:
        """A streamed GET of `path` on the registry, authorized: the response is a 2xx.

        Raises PullError for a definite answer (401/403 after auth, 404, other 4xx) and _Retry for
        a failure worth another attempt (a transport error, 5xx, 429)."""
        ep = self._connect(what)
        url = f"{ep.base}{path}"
        client = self._client(ep.verify)
        challenge = self._challenge
        for retried in (False, True):
            auth = self._auth_header(challenge, retried, what)
            request = client.build_request("GET", url, headers={**headers, **auth})
            try:
                response = client.send(request, stream=True)
            except httpx.TransportError as e:
                raise _Retry(f'{what}: failed to do request: Get "{url}": {_describe(e)}') from None
            try:
                if response.status_code == 401 and not retried:
                    # Authorize as the challenge says and try once more (a token for this scope, or
                    # basic credentials when we have some).
                    new = self._pick(response)
                    if new is not None and (new.scheme == "bearer" or self.credentials() is not None):
                        with self._lock:
                            self._challenge = new
                        challenge = new
                        continue
                if response.status_code >= 400:
                    response.read()
                    self._raise_for(response, url, what)
                yield response
                return
            finally:
                response.close()
        raise AssertionError("unreachable")  # pragma: no cover (the second pass returns or raises)

    def _raise_for(self, response: httpx.Response, url: str, what: str) -> None:
        status = response.status_code
        code, message = _registry_error(response)
        detail = f"{code.lower()}: {message}" if code else f"{status} {response.reason_phrase}"
        if status in (401, 403):
            creds = self.credentials()
            if creds is not None:
                raise PullError("unauthorized", f'{what}: failed to authorize as user "{creds.username}": '
                                                f"server message: {detail}")
            raise PullError("unauthorized", f"{what}: pull access denied, repository does not exist or may require "
                                            f"authorization (no credentials for {self.ref.registry}): "
                                            f"server message: {detail}")
        if status == 404 or code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"):
            raise PullError("not_found", f"{what}: not found")
        if status >= 500 or status == 429:
            raise _Retry(f"{what}: unexpected status from GET request to {url}: {status} {response.reason_phrase}")
        raise PullError("invalid", f"{what}: unexpected status from GET request to {url}: {detail}")

    # ---------------------------------------------------------------------------------- manifests

    def _get_manifest(self, target: str, expected_digest: str, expected_size: int | None) -> tuple[str, bytes]:
        """(media type, bytes) of the manifest `target` (a tag or digest), digest verified."""
        what = f'failed to resolve reference "{self._ref_text}"'
        path = f"/v2/{self.ref.repository}/manifests/{target}"
        last = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(RETRY_PAUSE * 2 ** (attempt - 1))
            try:
                with self._open(path, {"Accept": media.ACCEPT}, what) as response:
                    data = bytearray()
                    for chunk in response.iter_bytes(CHUNK):
                        data += chunk
                        if len(data) > media.MAX_DOCUMENT:
                            raise PullError("invalid", f"{what}: the manifest is larger than "
                                                       f"{media.MAX_DOCUMENT} bytes")
                    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
                    header_digest = response.headers.get("Docker-Content-Digest", "")
                    break
            except _Retry as e:
                last = e.message
            except httpx.TransportError as e:
                last = f"{what}: reading the manifest: {_describe(e)}"
        else:
            raise PullError("unreachable", last)
        body = bytes(data)
        got = media.sha256_digest(body)
        if header_digest and header_digest.startswith("sha256:") and header_digest != got:
            raise PullError("corrupt", f"{what}: the manifest's digest is {got}, the registry says {header_digest}")
        if expected_digest and got != expected_digest:
            raise PullError("corrupt", f"{what}: the manifest's digest is {got}, expected {expected_digest}")
        if expected_size is not None and len(body) != expected_size:
            raise PullError("corrupt", f"{what}: the manifest has {len(body)} bytes, its descriptor says "
                                       f"{expected_size}")
        return content_type, body

    def resolve(self, platform: Platform) -> Resolved:
        what = f'failed to resolve reference "{self._ref_text}"'
        content_type, data = self._get_manifest(self.ref.pull_target, self.ref.digest, None)
        try:
            doc = media.parse_manifest(data, content_type)
        except ImageError as e:
            raise PullError("invalid", f"{what}: {e.message}") from None
        target = media.Descriptor(doc.media_type, media.sha256_digest(data), len(data))
        if isinstance(doc, media.Manifest):
            return Resolved(target, data, target, data, doc)
        try:
            chosen = media.choose_platform(doc, platform)
        except ImageError as e:
            raise PullError("not_found", f"{what}: {e.message}") from None
        content_type, mdata = self._get_manifest(chosen.digest, chosen.digest, chosen.size)
        try:
            manifest = media.parse_manifest(mdata, chosen.media_type or content_type)
        except ImageError as e:
            raise PullError("invalid", f"{what}: manifest {chosen.digest}: {e.message}") from None
        if not isinstance(manifest, media.Manifest):
            raise PullError("invalid", f"{what}: the index entry {chosen.digest} for {platform} is itself an index")
        return Resolved(target, data, chosen, mdata, manifest)

    # -------------------------------------------------------------------------------------- blobs

    def fetch_blob(self, desc: Descriptor, dest: str, progress: Progress) -> None:
        what = f"failed to fetch blob {desc.digest} of \"{self._ref_text}\""
        try:
            self._fetch_blob(desc, dest, progress, what)
        except PullError as e:
            if desc.urls and e.kind == "not_found":
                # A foreign (nondistributable) layer: its URLs point at other hosts, which a pull from
                # this registry never contacts.
                raise PullError("not_found", f"{what}: a foreign layer that the registry does not hold; its "
                                             f"URLs ({', '.join(desc.urls)}) are not fetched") from None
            raise

    def _fetch_blob(self, desc: Descriptor, dest: str, progress: Progress, what: str) -> None:
        path = f"/v2/{self.ref.repository}/blobs/{desc.digest}"
        last = ""
        attempts, attempt = ATTEMPTS, 0
        progress_started = False
        while attempt < attempts:
            if attempt:
                time.sleep(RETRY_PAUSE * 2 ** (attempt - 1))
            attempt += 1
            writer = BlobWriter(desc, dest, resume=True)
            resumed_from = writer.offset
            if not progress_started:
                progress.start(desc, writer.offset)
                progress_started = True
            try:
                if writer.offset < desc.size:
                    headers = {"Accept-Encoding": "identity"}
                    if writer.offset:
                        headers["Range"] = f"bytes={writer.offset}-"
                    with self._open(path, headers, what) as response:
                        if writer.offset and response.status_code != 206:
                            # The registry ignored the Range: drop what was kept, read the blob whole.
                            writer.abort(keep=False)
                            writer = BlobWriter(desc, dest)
                        elif response.status_code == 206:
                            first = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
                            if first != str(writer.offset):
                                raise PullError("invalid", f"{what}: asked for the bytes from {writer.offset}, "
                                                           f"the registry sent a range from {first!r}")
                        self._stream(response, desc, writer, progress, what)
                writer.finish()
                progress.done(desc)
                return
            except _Retry as e:
                writer.abort(keep=True)  # what arrived is a prefix worth resuming from
                last = e.message
            except PullError as e:
                # Unreachable (the registry went away): what was kept stays for the next pull to resume.
                writer.abort(keep=e.kind == "unreachable")
                if e.kind == "corrupt" and resumed_from and attempts == ATTEMPTS:
                    attempts += 1  # the kept prefix may be what was wrong: once more, from zero
                    continue
                raise
            except BaseException:
                writer.abort(keep=True)
                raise
        raise PullError("unreachable", last)

    @staticmethod
    def _stream(response: httpx.Response, desc: Descriptor, writer: BlobWriter, progress: Progress,
                what: str) -> None:
        try:
            for chunk in response.iter_bytes(CHUNK):
                writer.write(chunk)
                progress.advance(desc, len(chunk))
        except httpx.TransportError as e:
            raise _Retry(f"{what}: the transfer was cut at {writer.written} of {desc.size} bytes: "
                         f"{_describe(e)}") from None
