"""The state of one de-identification: compiled table, keys, counters."""

from __future__ import annotations

import re
from collections import Counter

from uploads.dicom import profile as prof
from uploads.dicom.uids import is_issued_uid, is_valid_uid, remap_uid


class Run:
    """State of one de-identification: compiled table, keys, counters.

    ``counts`` tallies ``(tag, action)`` pairs (:func:`uploads.dicom.deid.results.action_rows`
    turns them into the report); ``shift`` is the patient's date shift in days, None
    when dates are not shifted; ``scrub_re`` and ``names_re`` are the Clean Descriptors
    patterns (:mod:`uploads.dicom.deid.names`), None without that option.
    """

    __slots__ = (
        "compiled",
        "counts",
        "invalid_uids",
        "key",
        "names_re",
        "pseudonym",
        "scrub_re",
        "shift",
        "uid_cache",
        "uid_root",
        "uid_scope",
    )

    def __init__(
        self,
        compiled: prof.CompiledProfile,
        key: bytes,
        uid_root: str,
        uid_scope: str,
        pseudonym: str,
        shift: int | None,
        scrub_re: re.Pattern[str] | None,
        names_re: re.Pattern[str] | None = None,
    ) -> None:
        self.compiled = compiled
        self.key = key
        self.uid_root = uid_root
        self.uid_scope = uid_scope
        self.invalid_uids = 0
        self.pseudonym = pseudonym
        self.shift = shift
        self.scrub_re = scrub_re
        self.names_re = names_re
        self.counts: Counter[tuple[int, str]] = Counter()
        self.uid_cache: dict[str, str] = {}

    def uid(self, value: str) -> str:
        """The new UID for ``value``: keyed remap (PS3.15 E.1.1 U action; PS3.5 9.1 for
        what a valid UID is), the same for the same value within the run."""
        new = self.uid_cache.get(value)
        if new is None:
            # A UID this engine issued under its owned root for this scope is kept (a
            # re-import of our own output): its check digits prove it, not its prefix.
            stripped = value.strip("\x00 ")
            if stripped and not is_valid_uid(stripped):
                self.invalid_uids += 1
            if is_issued_uid(stripped, key=self.key, root=self.uid_root, scope=self.uid_scope):
                new = stripped
            else:
                new = remap_uid(value, key=self.key, root=self.uid_root, scope=self.uid_scope)
            self.uid_cache[value] = new
        return new

    def scrub(self, text: str) -> str:
        """The patient's names and IDs anywhere in ``text``, then every person's name
        parts as whole words, replaced by as many ``*``."""
        for pattern in (self.scrub_re, self.names_re):
            if pattern is not None and text:
                text = pattern.sub(lambda m: "*" * len(m.group(0)), text)
        return text
