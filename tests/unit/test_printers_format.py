"""Pure formatting pieces: HumanDuration, ages, dates, the tabwriter, json/yaml/name output."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from pyrunc.printers import age, as_json, as_list, as_name, as_yaml, human_duration
from pyrunc.printers.tabwriter import tabwrite
from pyrunc.printers.timefmt import rfc1123z

MIN, HOUR, DAY, YEAR = 60, 3600, 86400, 365 * 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (59, "59s"),
        (2 * MIN - 1, "119s"),
        (2 * MIN, "2m"),
        (2 * MIN + 3, "2m3s"),
        (10 * MIN - 1, "9m59s"),
        (10 * MIN, "10m"),
        (10 * MIN + 59, "10m"),
        (3 * HOUR - 1, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + 5 * MIN, "3h5m"),
        (8 * HOUR - 1, "7h59m"),
        (8 * HOUR, "8h"),
        (2 * DAY - 1, "47h"),
        (2 * DAY, "2d"),
        (3 * DAY + 4 * HOUR, "3d4h"),
        (8 * DAY - 1, "7d23h"),
        (8 * DAY, "8d"),
        (YEAR, "365d"),
        (400 * DAY, "400d"),
        (2 * YEAR - 1, "729d"),
        (2 * YEAR, "2y"),
        (2 * YEAR + 10 * DAY, "2y10d"),
        (8 * YEAR - 1, "7y364d"),
        (8 * YEAR, "8y"),
        (20 * YEAR + 100 * DAY, "20y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_age_of_timestamps() -> None:
    now = datetime(2026, 11, 22, 0, 12, 0, tzinfo=timezone.utc)
    assert age("2026-11-22T00:11:30Z", now) == "30s"
    assert age("2026-11-22T00:11:30.250000Z", now) == "29s"
    assert age("2026-11-21T23:00:00+01:00", now) == "132m"
    # A naive now is taken as UTC.
    assert age("2026-11-21T21:12:00Z", now.replace(tzinfo=None)) == "3h"
    for bad in (None, "", "yesterday", "2026-13-40T00:00:00Z", 12):
        assert age(bad, now) == "<unknown>"


def test_rfc1123z_uses_the_zone_of_now() -> None:
    utc_now = datetime(2026, 11, 22, tzinfo=timezone.utc)
    assert rfc1123z("2026-11-22T00:11:30Z", utc_now) == "Sun, 22 Nov 2026 00:11:30 +0000"
    paris_now = utc_now.astimezone(timezone(timedelta(hours=1)))
    assert rfc1123z("2026-11-22T00:11:30Z", paris_now) == "Sun, 22 Nov 2026 01:11:30 +0100"
    west_now = utc_now.astimezone(timezone(timedelta(hours=-5, minutes=-30)))
    assert rfc1123z("2026-11-22T00:11:30Z", west_now) == "Sat, 21 Nov 2026 18:41:30 -0530"


def test_tabwriter_pads_cells_per_block_and_not_the_last_cell() -> None:
    text = "a\tbb\tc\nlonger\tb\tlast cell\nno tabs here\nx\ty\n"
    assert tabwrite(text, minwidth=0, padding=2) == (
        "a       bb  c\n"
        "longer  b   last cell\n"
        "no tabs here\n"  # ends the block: the next line is aligned on its own
        "x  y\n"
    )


def test_tabwriter_minwidth_and_empty_trailing_cell() -> None:
    assert tabwrite("A\tB\n", minwidth=6, padding=3) == "A     B\n"
    # A line ending with a tab pads its (empty) last real cell: kubectl's "True " rows.
    assert tabwrite("  Type\tStatus\n  Ready \tTrue \n", minwidth=0, padding=2) == (
        "  Type    Status\n  Ready   True \n"
    )


def test_as_json_is_kubectl_layout() -> None:
    obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web", "labels": {}}, "items": [], "n": 3}
    assert as_json(obj) == (
        "{\n"
        '    "apiVersion": "v1",\n'
        '    "items": [],\n'
        '    "kind": "Pod",\n'
        '    "metadata": {\n'
        '        "labels": {},\n'
        '        "name": "web"\n'
        "    },\n"
        '    "n": 3\n'
        "}\n"
    )


def test_as_json_escapes_like_go_and_round_trips() -> None:
    obj = {"msg": "a<b> & c", "unicode": "héllo", "nested": [{"x": None, "y": True}]}
    text = as_json(obj)
    assert '"a\\u003cb\\u003e \\u0026 c"' in text
    assert '"héllo"' in text
    assert json.loads(text) == obj


def test_as_yaml_quotes_only_when_needed() -> None:
    obj = {
        "plain": "nginx:1.25",
        "bool": "true",
        "yes": "y",
        "number": "10",
        "float": "1e3",
        "empty": "",
        "colon": "a: b",
        "stamp": "2026-11-22T00:11:30Z",
        "multi": "line1\nline2\n",
        "none": None,
        "list": ["sh", "-c"],
        "map": {},
    }
    assert as_yaml(obj) == (
        "bool: \"true\"\n"
        "colon: 'a: b'\n"
        "empty: \"\"\n"
        "float: \"1e3\"\n"
        "list:\n"
        "- sh\n"
        "- -c\n"
        "map: {}\n"
        "multi: |\n"
        "  line1\n"
        "  line2\n"
        "none: null\n"
        "number: \"10\"\n"
        "plain: nginx:1.25\n"
        "stamp: \"2026-11-22T00:11:30Z\"\n"
        "\"yes\": \"y\"\n"  # keys are quoted by the same rule
    )


def test_as_yaml_nesting_and_go_yaml_key_order() -> None:
    obj = {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}, "k10": 1, "k9": 2, "K_": 3}
    assert as_yaml(obj) == (
        "K_: 3\n"
        "k9: 2\n"  # go-yaml compares digit runs as numbers
        "k10: 1\n"
        "spec:\n"
        "  containers:\n"
        "  - name: a\n"
        "    ports:\n"
        "    - containerPort: 80\n"
    )


def test_as_yaml_round_trips_a_list() -> None:
    pods = [{"metadata": {"name": n, "labels": {"on": "yes"}}, "status": {"phase": "Running"}} for n in ("a", "b")]
    listed = as_list(pods)
    assert listed == {"apiVersion": "v1", "items": pods, "kind": "List", "metadata": {"resourceVersion": ""}}
    assert yaml.safe_load(as_yaml(listed)) == listed
    assert as_yaml(listed).endswith('metadata:\n  resourceVersion: ""\n')
    assert json.loads(as_json(listed)) == listed


def test_as_name() -> None:
    assert as_name({"metadata": {"name": "web"}}) == "pod/web"
