"""Protocol numbers <-> names from iproute2's rt_protos files."""

from __future__ import annotations

from pathlib import Path

import pytest

from v4via6.fib.protos import load_protos, parse_rt_protos, proto_name, proto_number


def test_parse_ignores_comments_and_junk() -> None:
    text = "# comment\n4\tstatic\n\n186 bgp  # trailing\nnot a line\n999 toolarge\n0x2a babel\n"
    assert parse_rt_protos(text) == {4: "static", 186: "bgp", 42: "babel"}


def test_later_files_win_and_own_name_is_known(tmp_path: Path) -> None:
    (tmp_path / "rt_protos").write_text("11 zebra\n12 bird\n")
    sub = tmp_path / "rt_protos.d"
    sub.mkdir()
    (sub / "frr.conf").write_text("11 frr\n196 static_frr\n")
    (sub / "ignored.txt").write_text("13 nope\n")
    table = load_protos([tmp_path])
    assert table[11] == "frr" and table[12] == "bird" and table[196] == "static_frr"
    assert 13 not in table
    assert table[46] == "v4via6" and table[4] == "static"


def test_missing_directory_gives_builtins() -> None:
    table = load_protos([Path("/nonexistent/v4via6")])
    assert table[2] == "kernel" and table[46] == "v4via6"


def test_system_lookup_round_trip() -> None:
    assert proto_name(46) == "v4via6"
    assert proto_name(4) == "static"
    assert proto_name(99) == "openr" or proto_name(99).isdigit() or proto_name(99)
    assert proto_number("static") == 4
    assert proto_number("46") == 46
    with pytest.raises(ValueError, match="unknown route protocol 'nosuchproto'"):
        proto_number("nosuchproto")
