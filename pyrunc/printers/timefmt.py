"""Time helpers shaped like apimachinery: HumanDuration, object ages and RFC 1123 dates.

Every function takes ``now`` from the caller; nothing here reads the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

# RFC 3339 as the API server writes it: "2026-11-22T00:11:30Z", optionally with
# fractional seconds (MicroTime) or a numeric offset. Compiled on first use: the times pyrunc writes
# (status.rfc3339) are read without it, and `re` costs `pyrunc get` ~5-10 ms to import (cli/lean_get.py).
_RFC3339_PATTERN = r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
_DIGITS = frozenset("0123456789")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_time(value: object) -> datetime | None:
    """An aware datetime for an RFC 3339 string, or None when missing or invalid."""
    if not isinstance(value, str):
        return None
    if _canonical(value):  # "YYYY-MM-DDTHH:MM:SSZ": what the regex below reads, without it
        try:
            return datetime(int(value[0:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]),
                            int(value[14:16]), int(value[17:19]), tzinfo=timezone.utc)
        except ValueError:
            return None
    import re

    m = re.fullmatch(_RFC3339_PATTERN, value.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    if zone in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        return None


def _canonical(value: str) -> bool:
    return (len(value) == 20 and value[4] == "-" and value[7] == "-" and value[10] == "T" and value[13] == ":"
            and value[16] == ":" and value[19] == "Z"
            and all(value[i] in _DIGITS for i in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)))


def aware(now: datetime) -> datetime:
    """``now`` with a zone: a naive datetime is taken to be UTC."""
    return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)


def human_duration(seconds: float) -> str:
    """apimachinery duration.HumanDuration: about 2-3 significant figures."""
    secs = int(seconds)  # Go's int(d.Seconds()) truncates toward zero
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


def since(when: datetime | None, now: datetime) -> str:
    """kubectl translateTimestampSince: HumanDuration(now - when), ``<unknown>`` for no time."""
    if when is None:
        return "<unknown>"
    return human_duration((aware(now) - when).total_seconds())


def age(timestamp: object, now: datetime) -> str:
    """The AGE of an RFC 3339 timestamp as kubectl prints it; ``<unknown>`` when missing/invalid."""
    return since(parse_time(timestamp), now)


def rfc1123z(timestamp: object, now: datetime) -> str:
    """Go's time.RFC1123Z (``Sun, 22 Nov 2026 00:11:30 +0000``).

    kubectl prints times in its own local zone; here that zone is ``now``'s (UTC if naive),
    so the CLI decides by passing ``datetime.now().astimezone()`` or a UTC ``now``.
    An unset time prints like Go's zero time.
    """
    when = parse_time(timestamp)
    if when is None:
        return "Mon, 01 Jan 0001 00:00:00 +0000"
    local = when.astimezone(aware(now).tzinfo)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return (
        f"{_DAYS[local.weekday()]}, {local.day:02d} {_MONTHS[local.month - 1]} {local.year:04d} "
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} {zone}"
    )
