"""The supervisor's wire format: one JSON request line per connection, one JSON reply line.

    request   {"op": "apply"|"delete"|"ping", "protocol": P, "build": "<id>", ...op fields}
    success   {"ok": true, "protocol": P, "build": "<id>", ...result fields}
    failure   {"ok": false, "kind": "<PyruncError subclass>", "error": "one line", "hint": "...",
               "fields": {...the error's own attributes}}
    handover  {"ok": false, "kind": "Handover", ...}: the supervisor is of another build or protocol;
              it stops accepting and exits leaving the pods running, and the client starts its own.

Errors keep their type across the socket: the daemon encodes the class name and the instance's
attributes, and the client raises the same ``pyrunc.errors`` class with the same message, hint
and fields (``NotFound.name``, ``FieldError.path``, ``SpecError.errors``, ...). A kind the client
does not know (an error class of another build) becomes a plain ``DaemonError`` with the message.

A request line is bounded (MAX_REQUEST bytes, newline included): a client that sends more, or
that much without a newline, gets a ``RequestTooLarge`` reply and its connection is closed.

Pure: no sockets here (see ``server.py`` for the daemon's side and ``client.py`` for the CLI's).
"""

from __future__ import annotations

import json
from typing import Any, Union

from pyrunc import errors

# Bump when a request or reply changes meaning; a supervisor of another protocol hands over.
PROTOCOL = 2
MAX_REQUEST = 8 << 20  # bytes per request line: a Pod manifest is a few KiB; the API server's own limit is 3 MiB
# Manifest text a "check" request carries at most (supervisor/intake.py): parsing and decoding this much takes
# the supervisor's loop a few milliseconds; bigger manifests are checked by the CLI itself.
MAX_CHECK_TEXT = 256 * 1024
HANDOVER = "Handover"

JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]
Message = dict[str, Any]


class ProtocolError(errors.DaemonError):
    """A request the supervisor cannot read (not one JSON object on one line)."""


class RequestTooLarge(ProtocolError):
    """A request line longer than MAX_REQUEST bytes."""


def encode(msg: Message) -> bytes:
    """One message as one line (JSON never holds a raw newline)."""
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode()


def decode_request(line: bytes) -> Message:
    """The request in ``line`` (without its newline); a ProtocolError when it is not a JSON object with an op."""
    try:
        msg = json.loads(line)
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError(f"bad request: not JSON: {e}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
        raise ProtocolError("bad request: expected a JSON object with an \"op\"")
    return msg


def decode_reply(data: bytes) -> Message:
    try:
        msg = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise errors.DaemonError(f"unreadable reply from the pyrunc supervisor: {e}") from None
    if not isinstance(msg, dict):
        raise errors.DaemonError("unreadable reply from the pyrunc supervisor: not a JSON object")
    return msg


# ------------------------------------------------------------------------------ typed errors
def _error_classes() -> dict[str, type[errors.PyruncError]]:
    """Every PyruncError class by name: those of pyrunc.errors and this module's own."""
    found: dict[str, type[errors.PyruncError]] = {}
    for namespace in (vars(errors), globals()):
        for name, value in namespace.items():
            if isinstance(value, type) and issubclass(value, errors.PyruncError):
                found[name] = value
    return found


def _encode_value(value: object) -> JSONValue | None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, errors.PyruncError):
        return {"__error__": encode_error(value)}
    if isinstance(value, (list, tuple)):
        items = [_encode_value(v) for v in value]
        return items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode_value(v) for k, v in value.items()}
    return None  # not representable: dropped (the message still says it)


def encode_error(e: errors.PyruncError) -> Message:
    """The failure reply for ``e``: its class name, message, hint and its own attributes."""
    fields = {k: _encode_value(v) for k, v in vars(e).items() if k not in ("message", "hint")}
    return {"ok": False, "kind": type(e).__name__, "error": e.message, "hint": e.hint, "fields": fields}


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__error__"} and isinstance(value["__error__"], dict):
            return decode_error(value["__error__"])
        return {k: _decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    return value


def decode_error(reply: Message) -> errors.PyruncError:
    """The error a failure reply carries, as an instance of the same class (DaemonError if unknown).

    The instance is rebuilt without calling the class's ``__init__`` (each subclass has its own
    signature and some compose their message): message, hint and fields are restored as sent.
    """
    message = str(reply.get("error") or "request failed")
    hint = str(reply.get("hint") or "")
    cls = _error_classes().get(str(reply.get("kind") or ""), errors.DaemonError)
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    fields = reply.get("fields")
    if isinstance(fields, dict):
        for key, value in fields.items():
            if isinstance(key, str) and key.isidentifier():
                setattr(err, key, _decode_value(value))
    err.message = message
    err.hint = hint
    return err


def internal_error(e: BaseException) -> Message:
    """A bug in the supervisor: the client still gets one line (and never hangs)."""
    return {"ok": False, "kind": "Internal", "error": f"internal error: {type(e).__name__}: {e}", "hint": ""}
