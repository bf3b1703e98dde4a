"""httpGet (kubelet pkg/probe/http): 200 <= status < 400 succeeds; same-host redirects are followed.

A lifecycle httpGet succeeds on any HTTP response (kubelet runHTTPHandler checks only that the request completed).
http.client and ssl are imported in the action child only: the supervisor never needs them.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Sequence

from pyrunc.probe import FAILURE, MAX_OUTPUT, SUCCESS, Failed, errno_text, go_quote, join_host_port
from pyrunc.probe.tcp import dial
from pyrunc.spec.model import HTTPGetAction, HTTPHeader

if TYPE_CHECKING:
    import http.client
    import urllib.parse

MAX_REDIRECTS = 10  # Go's http.Client stops after 10 redirects
KUBE_VERSION = "1.34"
REDIRECT_CODES = (301, 302, 303, 307, 308)


def probe_url(scheme: str, host: str, port: int, path: str) -> str:
    """kubelet formatURL: scheme://host:port + the path (with its query), always with a leading slash."""
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme.lower()}://{join_host_port(host, port)}{path}"


def request_headers(headers: Sequence[HTTPHeader], purpose: str) -> list[tuple[str, str]]:
    """The user's headers plus the kubelet's defaults: `User-Agent: kube-probe/1.34` and `Accept: */*`.

    A header the user sets replaces the default; set to "" it removes it (kubelet NewRequestForHTTPGetAction).
    """
    names = {h.name.lower() for h in headers}
    out = [(h.name, h.value) for h in headers if h.value or h.name.lower() not in ("user-agent", "accept")]
    if "user-agent" not in names:
        out.append(("User-Agent", f"kube-{purpose}/{KUBE_VERSION}"))
    if "accept" not in names:
        out.append(("Accept", "*/*"))
    return out


def run(action: HTTPGetAction, pod_ip: str, port: int, deadline: float, purpose: str) -> tuple[int, str]:
    """kubelet DoHTTPProbe: 200 <= status < 400 succeeds; same-host redirects are followed, others end it."""
    import urllib.parse

    host = action.host or pod_ip
    url = first_url = probe_url(action.scheme, host, port, action.path)
    headers = request_headers(action.http_headers, purpose)
    for hops in range(MAX_REDIRECTS + 1):
        status, location, body = _request(url, headers, deadline)
        if status not in REDIRECT_CODES or not location:
            break
        target = urllib.parse.urljoin(url, location)
        if urllib.parse.urlsplit(target).hostname != urllib.parse.urlsplit(first_url).hostname:
            break  # kubelet RedirectChecker: a redirect to another host is not followed (a warning, not a failure)
        if hops + 1 >= MAX_REDIRECTS:
            raise Failed(FAILURE, f"Get {go_quote(target)}: stopped after {MAX_REDIRECTS} redirects")
        url = target
    if purpose == "lifecycle":
        return SUCCESS, ""
    if 200 <= status < 300:
        return SUCCESS, body
    if 300 <= status < 400:
        return SUCCESS, f"Probe terminated redirects, Response body: {body}"
    return FAILURE, f"HTTP probe failed with statuscode: {status}"


def _request(url: str, headers: list[tuple[str, str]], deadline: float) -> tuple[int, str, str]:
    """One GET; (status, Location, first MAX_OUTPUT bytes of the body). Errors become Failed like Go's client."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    quoted = go_quote(url)
    try:
        sock = dial(host, port, deadline)
    except Failed as e:
        suffix = " (Client.Timeout exceeded while awaiting headers)" if e.message.endswith("i/o timeout") else ""
        raise Failed(FAILURE, f"Get {quoted}: {e.message}{suffix}") from None
    try:
        if parts.scheme == "https":
            sock = _tls(sock, host)
        conn = http.client.HTTPConnection(host, port)
        conn.sock = sock  # already connected (and wrapped): HTTPConnection only sends and parses
        _send_request(conn, parts, headers)
        resp = conn.getresponse()
        body = resp.read(MAX_OUTPUT).decode(errors="replace")
        return resp.status, resp.getheader("Location", ""), body
    except socket.timeout:
        raise Failed(FAILURE, f"Get {quoted}: context deadline exceeded "
                               "(Client.Timeout exceeded while awaiting headers)") from None
    except (OSError, http.client.HTTPException) as e:
        if isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError)):
            detail = "EOF"  # Go's words when the server closes the connection before answering
        elif isinstance(e, OSError) and e.errno:
            detail = errno_text(e)
        else:
            detail = str(e) or type(e).__name__
        raise Failed(FAILURE, f"Get {quoted}: {detail}") from None
    finally:
        sock.close()


def _send_request(conn: http.client.HTTPConnection, parts: urllib.parse.SplitResult,
                  headers: list[tuple[str, str]]) -> None:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
    # The Host header is the URL's host:port unless the user sets one (kubelet copies it into req.Host).
    host_header = next((v for k, v in headers if k.lower() == "host"), parts.netloc)
    conn.putheader("Host", host_header)
    for name, value in headers:
        if name.lower() != "host":
            conn.putheader(name, value)
    conn.putheader("Connection", "close")  # the kubelet's probe transport disables keep-alives
    conn.endheaders()


def _tls(sock: socket.socket, host: str) -> socket.socket:
    """HTTPS without certificate checks, as the kubelet does (InsecureSkipVerify)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(sock, server_hostname=host)
