"""The PS3.15 Table E.1-1 data file and its compilation into actions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydicom.datadict import keyword_for_tag

from uploads.dicom import profile as prof
from uploads.dicom.deidentify import DeidOptions

DEFAULT = DeidOptions().profile_columns()
NONE = frozenset[str]()


def tag(text: str) -> int:
    return int(text.replace(",", ""), 16)


def test_profile_json_is_self_describing() -> None:
    document = json.loads(prof.PROFILE_PATH.read_text(encoding="utf-8"))
    assert document["edition"] == "2025a"
    assert "2024b" in document["edition_note"]  # cross-checked edition recorded
    assert [c["key"] for c in document["option_columns"]] == list(prof.OPTION_KEYS)
    assert {c["code"] for c in document["option_columns"]} == {
        f"1131{n:02d}" for n in (3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
    }
    assert set(document["action_codes"]) == set(prof.ACTION_CODES)
    assert document["safe_private"]["rows"], "the safe private allow-list is in the file"


def test_every_row_is_valid_and_keywords_match_the_data_dictionary() -> None:
    profile = prof.load_profile()
    assert len(profile.rows) == 621  # 620 attributes + the private-attributes row
    codes = {row.basic_profile for row in profile.rows}
    assert codes == set(prof.ACTION_CODES) - {"C", "K"}  # C and K only occur in options
    repeating = {row.tag for row in profile.rows if "X" in row.tag}
    assert repeating == {"50XX,XXXX", "60XX,3000", "60XX,4000"}
    for row in profile.rows:
        if "X" in row.tag or row.is_private_row:
            continue
        assert keyword_for_tag(tag(row.tag)) == row.keyword, row.tag
    for safe in profile.safe_private:
        assert safe.group % 2 == 1 and 0 <= safe.offset <= 0xFF and safe.source


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("0010,0010", DEFAULT, prof.EMPTY),  # Patient's Name: Z (the engine puts a pseudonym)
        ("0010,0020", DEFAULT, prof.DUMMY),  # Patient ID: Z/D -> D
        ("0010,1010", DEFAULT, prof.KEEP),  # Patient's Age: X, K with characteristics
        ("0010,1010", NONE, prof.REMOVE),
        ("0010,0040", NONE, prof.EMPTY),  # Patient's Sex: Z
        ("0008,0020", DEFAULT, prof.SHIFT),  # Study Date: Z, C with modified dates
        ("0008,0020", NONE, prof.EMPTY),
        ("0008,0021", NONE, prof.DUMMY),  # Series Date: X/D
        ("0008,0022", NONE, prof.EMPTY),  # Acquisition Date: X/Z
        ("0008,0080", DEFAULT, prof.DUMMY),  # Institution Name: X/Z/D
        ("0008,0080", frozenset({"retain_institution_identity"}), prof.KEEP),
        ("0008,1030", DEFAULT, prof.CLEAN),  # Study Description: X, C with clean descriptors
        ("0008,1030", NONE, prof.REMOVE),
        ("0008,1140", NONE, prof.UID_SEQUENCE),  # Referenced Image Sequence: X/Z/U*
        ("0020,000D", NONE, prof.UID),
        ("0040,A730", NONE, prof.DUMMY),  # Content Sequence
        ("0016,002B", DEFAULT, prof.CLEAN),  # Maker Note (binary; the engine empties it)
    ],
)
def test_effective_action(text: str, options: frozenset[str], expected: str) -> None:
    compiled = prof.compile_profile(options)
    assert compiled.action(tag(text)) == expected


def test_most_protective_option_wins() -> None:
    """Beam Hold Transition DateTime: K for device identity, C for modified dates."""
    row = prof.load_profile().row(tag("300C,0127"))
    assert row is not None
    both = {"retain_device_identity", "retain_long_modified_dates"}
    assert prof.resolve_action(row, both) == "C"
    assert prof.effective_action(row, both) == prof.SHIFT
    assert prof.resolve_action(row, {"retain_device_identity"}) == "K"
    assert prof.resolve_action(row, set()) == "D"


def test_repeating_groups_and_private_rows() -> None:
    compiled = prof.compile_profile(DEFAULT)
    assert compiled.action(0x60023000) == prof.REMOVE  # Overlay Data, any even 60xx group
    assert compiled.action(0x601E4000) == prof.REMOVE  # Overlay Comments
    assert compiled.action(0x50001234) == prof.REMOVE  # Curve Data
    assert compiled.action(0x00280010) is None  # Rows: not in the table, kept
    assert compiled.private_action == prof.CLEAN  # Retain Safe Private
    assert prof.compile_profile(NONE).private_action == prof.REMOVE
    assert (0x0019, "GEMS_ACQU_01", 0x23) in compiled.safe_private
    overlay = prof.load_profile().row(0x60043000)
    assert overlay is not None and overlay.keyword == "OverlayData"


def test_unknown_option_and_bad_file_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown profile options"):
        prof.compile_profile(frozenset({"retain_everything"}))
    document = json.loads(prof.PROFILE_PATH.read_text(encoding="utf-8"))
    document["rows"][0]["basic_profile"] = "Q"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="bad Basic Profile action"):
        prof.load_profile(str(bad))
