"""PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes) as data.

The table lives in ``profile/ps3_15_e1_1.json`` (see ``profile/README.md`` for its
provenance). This module loads and validates it once, and compiles it, for a given set
of options, into a ``tag -> action`` mapping that :mod:`uploads.dicom.deidentify`
applies in a single walk over a data set.

Resolution rules (documented in ``docs/deidentification.md``)
--------------------------------------------------------------
1. An enabled option whose column has an action for the attribute overrides the Basic
   Profile action (PS3.15 E.3: an option "retains" or "cleans" what the Basic Profile
   would remove). When several enabled options give actions, the most protective wins:
   ``C`` (clean) over ``K`` (keep) -- e.g. Beam Hold Transition DateTime is ``K`` for
   Retain Device Identity but ``C`` for Modified Dates, so its date is shifted.
2. The conditional Basic Profile codes are resolved without IOD knowledge, always to the
   alternative that keeps the data set conformant whatever the attribute's Type:
   ``X/Z -> Z``, ``X/D``, ``Z/D`` and ``X/Z/D -> D``, ``X/Z/U* -> U*`` (keep the sequence,
   remap the instance UIDs inside it). ``Z`` and ``D`` carry no identifying content, so
   this choice costs no privacy (PS3.15 Table E.1-1a).
3. ``C`` coming from a Retain Longitudinal Temporal Information with Modified Dates column
   is the date shift (:data:`SHIFT`); every other ``C`` is descriptor cleaning
   (:data:`CLEAN`). ``C`` of the Retain Safe Private column is the private allow-list.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from uploads.dicom.constants import (
    CLEAN,
    CONDITIONAL_ACTIONS,
    DUMMY,
    EMPTY,
    KEEP,
    OPTION_CODE_MEANINGS,
    PROTECTIVE_ORDER,
    REMOVE,
    SHIFT,
    UID,
    UID_SEQUENCE,
)

__all__ = [
    "ACTION_CODES",
    "CLEAN",
    "DUMMY",
    "EMPTY",
    "KEEP",
    "OPTION_KEYS",
    "PROFILE_PATH",
    "REMOVE",
    "SHIFT",
    "UID",
    "UID_SEQUENCE",
    "CompiledProfile",
    "Profile",
    "ProfileRow",
    "SafePrivateRow",
    "compile_profile",
    "effective_action",
    "load_profile",
    "resolve_action",
]

#: The JSON file holding Table E.1-1 and the safe private allow-list.
PROFILE_PATH = Path(__file__).with_name("profile") / "ps3_15_e1_1.json"

#: Action codes that may appear in the Basic Profile column (PS3.15 Table E.1-1a).
ACTION_CODES = frozenset({"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})
#: Action codes that may appear in an option column.
OPTION_CODES = frozenset({"K", "C", "X"})

#: Option column keys, in the order of the table's columns.
OPTION_KEYS = (
    "retain_safe_private",
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
)

# Effective (single) actions produced by compile_profile(), and how a row's action is
# resolved: defined, as data, in uploads/dicom/constants.py (the browser engine reads the
# same data).
_RAW_ORDER = {code: PROTECTIVE_ORDER.index(code) for code in OPTION_CODES}
_TAG_RE = re.compile(r"^[0-9A-FX]{4},[0-9A-FX]{4}$")
_PRIVATE_ROW_TAG = "GGGG,EEEE"


@dataclass(frozen=True, slots=True, eq=False)
class ProfileRow:
    """One row of PS3.15 Table E.1-1.

    Attributes
    ----------
    tag : str
        ``gggg,eeee`` in upper-case hex; ``X`` marks a repeating-group digit
        (``50XX,XXXX``, ``60XX,3000``); ``GGGG,EEEE`` is the private-attributes row.
    keyword, name : str
        PS3.6 keyword and the name printed in the table.
    in_std_comp_iod : bool
        The "In Std. Comp. IOD" column.
    basic_profile : str
        The Basic Profile action code.
    options : Mapping[str, str]
        Option key -> action code for the option columns that are not empty.
    """

    tag: str
    keyword: str
    name: str
    in_std_comp_iod: bool
    basic_profile: str
    options: Mapping[str, str]

    @property
    def is_private_row(self) -> bool:
        """True for the "(gggg,eeee) where gggg is odd" row."""
        return self.tag == _PRIVATE_ROW_TAG

    @property
    def mask_value(self) -> tuple[int, int]:
        """``(mask, value)`` such that ``tag & mask == value`` matches this row."""
        digits = self.tag.replace(",", "")
        mask = int("".join("0" if c == "X" else "F" for c in digits), 16)
        value = int(digits.replace("X", "0"), 16)
        return mask, value


@dataclass(frozen=True, slots=True)
class SafePrivateRow:
    """One private attribute of the Retain Safe Private allow-list (PS3.15 E.3.10).

    ``group`` is the odd group, ``offset`` the element number inside the creator's
    block (the ``xx`` of ``gggg,bbxx``), ``creator`` the Private Creator value.
    """

    group: int
    offset: int
    creator: str
    vr: str
    vm: str
    name: str
    source: str


@dataclass(frozen=True, slots=True)
class OptionColumn:
    """An option column: ``key`` in the rows, the option's name and its CID 7050 code."""

    key: str
    name: str
    code: str


@dataclass(frozen=True, slots=True, eq=False)
class Profile:
    """The loaded table: edition, option columns, rows and the safe private allow-list."""

    title: str
    edition: str
    option_columns: tuple[OptionColumn, ...]
    rows: tuple[ProfileRow, ...]
    safe_private: tuple[SafePrivateRow, ...]
    by_tag: Mapping[int, ProfileRow]

    def row(self, tag: int) -> ProfileRow | None:
        """The row matching ``tag`` (exact rows first, then repeating groups)."""
        exact = self.by_tag.get(tag)
        if exact is not None:
            return exact
        for row in self.rows:
            if "X" in row.tag:
                mask, value = row.mask_value
                if tag & mask == value:
                    return row
        return None


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """Table E.1-1 resolved for one set of options, ready for a single data-set walk.

    Attributes
    ----------
    options : frozenset[str]
        The enabled option keys.
    exact : Mapping[int, str]
        Tag -> effective action (:data:`REMOVE`, :data:`EMPTY`, :data:`DUMMY`,
        :data:`KEEP`, :data:`CLEAN`, :data:`SHIFT`, :data:`UID`, :data:`UID_SEQUENCE`).
    masked : tuple[tuple[int, int, str], ...]
        ``(mask, value, action)`` for the repeating-group rows.
    private_action : str
        :data:`REMOVE`, or :data:`CLEAN` (keep only the allow-list).
    safe_private : Mapping[tuple[int, str, int], SafePrivateRow]
        ``(group, creator, offset) -> row`` of the allow-list.
    """

    options: frozenset[str]
    exact: Mapping[int, str]
    masked: tuple[tuple[int, int, str], ...]
    private_action: str
    safe_private: Mapping[tuple[int, str, int], SafePrivateRow]

    def action(self, tag: int) -> str | None:
        """The action for a public ``tag``, or None when the table does not list it."""
        found = self.exact.get(tag)
        if found is not None:
            return found
        for mask, value, action in self.masked:
            if tag & mask == value:
                return action
        return None


def _fail(message: str) -> None:
    raise ValueError(f"{PROFILE_PATH.name}: {message}")


def _parse_row(raw: Mapping[str, Any], keys: set[str]) -> ProfileRow:
    tag = raw.get("tag")
    if not isinstance(tag, str) or not (_TAG_RE.match(tag) or tag == _PRIVATE_ROW_TAG):
        _fail(f"bad tag {tag!r}")
    basic = raw.get("basic_profile")
    if basic not in ACTION_CODES:
        _fail(f"{tag}: bad Basic Profile action {basic!r}")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        _fail(f"{tag}: options must be an object")
    for key, code in options.items():
        if key not in keys:
            _fail(f"{tag}: unknown option column {key!r}")
        if code not in OPTION_CODES:
            _fail(f"{tag}: bad action {code!r} for {key}")
    return ProfileRow(
        tag=str(tag),
        keyword=str(raw.get("keyword", "")),
        name=str(raw.get("name", "")),
        in_std_comp_iod=bool(raw.get("in_std_comp_iod", False)),
        basic_profile=str(basic),
        options=MappingProxyType(dict(options)),
    )


def _parse_safe_private(raw: Mapping[str, Any]) -> SafePrivateRow:
    group = int(str(raw["group"]), 16)
    if not group & 1:
        _fail(f"safe private group {raw['group']} is not odd")
    return SafePrivateRow(
        group=group,
        offset=int(str(raw["element"]), 16),
        creator=str(raw["creator"]),
        vr=str(raw["vr"]),
        vm=str(raw["vm"]),
        name=str(raw["name"]),
        source=str(raw["source"]),
    )


@functools.cache
def load_profile(path: str | None = None) -> Profile:
    """Load and validate the profile JSON (cached).

    Parameters
    ----------
    path : str, optional
        Another copy of the file (tests); defaults to :data:`PROFILE_PATH`.

    Returns
    -------
    Profile

    Raises
    ------
    ValueError
        If the file is not a valid profile: unknown action codes or option columns,
        malformed tags, duplicate tags, or a missing edition.
    """
    document = json.loads(Path(path or PROFILE_PATH).read_text(encoding="utf-8"))
    edition = document.get("edition")
    if not isinstance(edition, str) or not edition:
        _fail("no edition")
    columns = tuple(
        OptionColumn(key=str(c["key"]), name=str(c["name"]), code=str(c["code"]))
        for c in document["option_columns"]
    )
    keys = {c.key for c in columns}
    if keys != set(OPTION_KEYS):
        _fail(f"option columns {sorted(keys)} differ from {sorted(OPTION_KEYS)}")
    rows = tuple(_parse_row(r, keys) for r in document["rows"])
    tags = [r.tag for r in rows]
    if len(tags) != len(set(tags)):
        _fail("duplicate tags")
    safe = tuple(_parse_safe_private(r) for r in document["safe_private"]["rows"])
    by_tag = {
        int(r.tag.replace(",", ""), 16): r
        for r in rows
        if "X" not in r.tag and not r.is_private_row
    }
    return Profile(
        title=str(document.get("title", "")),
        edition=str(edition),
        option_columns=columns,
        rows=rows,
        safe_private=safe,
        by_tag=MappingProxyType(by_tag),
    )


def resolve_action(row: ProfileRow, options: Iterable[str]) -> str:
    """The table's action code for ``row`` under the enabled ``options`` (PS3.15 E.1.1).

    Option actions override the Basic Profile; among several enabled options the most
    protective action wins (``X`` over ``C`` over ``K``).

    Parameters
    ----------
    row : ProfileRow
    options : iterable of str
        Enabled option keys (:data:`OPTION_KEYS`).

    Returns
    -------
    str
        A code of PS3.15 Table E.1-1a, possibly a conditional one such as ``X/Z``.
    """
    chosen = [row.options[key] for key in options if key in row.options]
    if not chosen:
        return row.basic_profile
    return min(chosen, key=_RAW_ORDER.__getitem__)


def effective_action(row: ProfileRow, options: Iterable[str]) -> str:
    """The single action the engine applies to ``row`` (see the module docstring).

    Each enabled option column's code is translated (``C`` under Modified Dates is
    :data:`SHIFT`), the most protective wins; with none, the Basic Profile code with its
    conditional codes resolved. Returns one of :data:`REMOVE`, :data:`EMPTY`,
    :data:`DUMMY`, :data:`KEEP`, :data:`CLEAN`, :data:`SHIFT`, :data:`UID`,
    :data:`UID_SEQUENCE`.
    """
    chosen = [
        OPTION_CODE_MEANINGS.get(key, {}).get(code, code)
        for key in frozenset(options)
        if (code := row.options.get(key)) is not None
    ]
    if not chosen:
        return CONDITIONAL_ACTIONS.get(row.basic_profile, row.basic_profile)
    return min(chosen, key=PROTECTIVE_ORDER.index)


@functools.cache
def compile_profile(options: frozenset[str], path: str | None = None) -> CompiledProfile:
    """Compile Table E.1-1 for ``options`` into a :class:`CompiledProfile` (cached).

    Parameters
    ----------
    options : frozenset of str
        Enabled option keys; unknown keys raise ``ValueError``.
    path : str, optional
        Profile JSON to use instead of :data:`PROFILE_PATH`.
    """
    unknown = options - set(OPTION_KEYS)
    if unknown:
        raise ValueError(f"unknown profile options: {sorted(unknown)}")
    profile = load_profile(path)
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, str]] = []
    private_action = REMOVE
    for row in profile.rows:
        action = effective_action(row, options)
        if row.is_private_row:
            private_action = action if action in (REMOVE, CLEAN) else REMOVE
        elif "X" in row.tag:
            mask, value = row.mask_value
            masked.append((mask, value, action))
        else:
            exact[int(row.tag.replace(",", ""), 16)] = action
    safe = {(r.group, r.creator, r.offset): r for r in profile.safe_private}
    return CompiledProfile(
        options=options,
        exact=MappingProxyType(exact),
        masked=tuple(masked),
        private_action=private_action,
        safe_private=MappingProxyType(safe),
    )
