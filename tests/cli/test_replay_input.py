"""`tally replay`'s checks of the export that need no broker: a file that is not UTF-8 is
refused before anything is published (the broker given here does not exist: the command must
not get as far as it)."""

from __future__ import annotations

from tests.cli.cli_support import answer, export_row, run_tally, write_export

NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens there


def test_a_file_that_is_not_utf8_is_refused_before_anything_is_published(tmp_path):
    # It was published up to the undecodable byte, then the replay stopped naming a line far
    # from it (the decoder reads ahead).
    rows = [export_row(n, 5, answer("T0", "Yes"), user=f"u{n}") for n in range(1, 300)]
    export = write_export(tmp_path / "e.csv", rows)
    lines = export.read_bytes().split(b"\n")
    lines[200] = lines[200].replace(b",u200,", b",Jos\xe9,")
    export.write_bytes(b"\n".join(lines))
    offset = export.read_bytes().index(b"\xe9")
    result = run_tally("replay", export, "--broker", NOWHERE, "-hb")
    assert result.code != 0
    assert (
        f"{export} is not UTF-8 text (byte b'\\xe9' at byte {offset}, line 201); nothing was "
        "published" in result.err
    )
    assert "iconv" in result.err
    assert NOWHERE not in result.err
