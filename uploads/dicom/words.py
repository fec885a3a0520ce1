"""The file's own identifying values as words, and matching recognised text against them.

Used to decide which text burned into the pixels identifies the patient (PS3.15 E.3.1,
Clean Pixel Data Option: "any information burned in to the pixel data … that identifies
the patient"). The values are taken from the header *before* de-identification: the
patient's name parts, other names, IDs, accession number, institution and the people
named in the study (PS3.15 Table E.1-1 lists all of them as identifying), and the dates
of the study and of birth written the ways devices print them.

Matching is case-insensitive and forgives the usual OCR confusions (O/0, I/l/1, S/5, B/8,
Z/2, G/6), one wrong character in words of five or more characters, and a word cut at
the edge of the screen (a prefix of four or more characters of a longer value word).
Words shorter than two characters never match, so probe, preset and scale labels
("C5-1", "ABD", "MI 0.8", "cm") are left alone unless they equal a value of the file.

Plain Python: no Django, no Celery.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from uploads.dicom.constants import IDENTIFYING_WORD_TAGS, WORD_MATCHING

__all__ = ["Matcher", "canonical", "date_forms", "identifying_words"]

#: Person names whose parts are identifying, identifiers and free text printed whole (each
#: word of them too), dates printed on screens, and the matching rules: one definition
#: shared with the browser's port (frontend/src/words.js) in constants.py.
_NAME_KEYWORDS = tuple(IDENTIFYING_WORD_TAGS["names"])
_TEXT_KEYWORDS = tuple(IDENTIFYING_WORD_TAGS["text"])
_DATE_KEYWORDS = tuple(IDENTIFYING_WORD_TAGS["dates"])
_MONTHS = tuple(WORD_MATCHING["months"])
_MONTH_NAMES = tuple(WORD_MATCHING["month_names"])
#: OCR confusions folded to one character on both sides before comparing.
_FOLD = str.maketrans(WORD_MATCHING["fold"])
_SPLIT = re.compile(WORD_MATCHING["split"])
_EDGES = re.compile(WORD_MATCHING["edges"])
MIN_LENGTH: int = WORD_MATCHING["min_length"]
_FUZZY_VALUE: int = WORD_MATCHING["fuzzy_value"]
_FUZZY_SEEN: int = WORD_MATCHING["fuzzy_seen"]
_PREFIX_VALUE: int = WORD_MATCHING["prefix_value"]
_PREFIX_SEEN: int = WORD_MATCHING["prefix_seen"]
_JOINED: int = WORD_MATCHING["joined_part"]
_TEXT_WORD: int = WORD_MATCHING["text_word"]


def canonical(word: str) -> str:
    """Upper case, outer punctuation dropped, OCR confusions folded (O→0, I/L→1 …)."""
    return _EDGES.sub("", word.upper()).translate(_FOLD)


def date_forms(value: str) -> list[str]:
    """A DICOM DA value (YYYYMMDD, PS3.5 6.2) written the common ways: ``19710305``,
    ``1971-03-05``, ``1971/03/05``, ``1971.03.05``, ``05/03/1971``, ``03/05/1971``,
    ``05-03-1971``, ``05.03.1971``, ``05/03/71``, ``5 Mar 1971``, ``05-MAR-1971``,
    ``Mar 5 1971``, ``5 March 1971``. Each form is one entry; multi-word forms are matched
    word by word. An invalid value gives ``[]``."""
    text = value.strip()
    if not re.fullmatch(r"\d{8}", text):
        return []
    try:
        day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return []
    y, m, d = f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"
    mon, month = _MONTHS[day.month - 1], _MONTH_NAMES[day.month - 1]
    forms = [y + m + d]
    for sep in ("-", "/", "."):
        forms += [sep.join((y, m, d)), sep.join((d, m, y)), sep.join((m, d, y))]
        forms += [sep.join((d, m, y[2:])), sep.join((m, d, y[2:]))]
    short = (str(day.day), str(day.month))
    forms += [f"{short[0]}/{short[1]}/{y}", f"{short[1]}/{short[0]}/{y}"]
    forms += [f"{d}-{mon}-{y}", f"{d}{mon}{y}", f"{d}-{mon}-{y[2:]}"]
    for dd in dict.fromkeys((d, str(day.day))):  # in this order, as the browser
        forms += [f"{dd} {mon} {y}", f"{dd} {month} {y}", f"{mon} {dd} {y}", f"{month} {dd} {y}"]
    return list(dict.fromkeys(forms))


def _text(ds: Dataset, keyword: str) -> list[str]:
    try:
        value = ds.get(keyword)
    except Exception:  # a value pydicom cannot convert: nothing to look for
        return []
    if value is None or value == "":
        return []
    values = value if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(v) for v in values if str(v).strip()]


def identifying_words(ds: Dataset) -> list[str]:
    """The identifying values of ``ds`` to look for in its pixels, taken before
    de-identification: each name part (PN components split at ``^``, ``=`` and spaces,
    PS3.5 6.2.1) of two or more characters, IDs and the institution whole and word by
    word, and the dates in the forms of :func:`date_forms`. Multi-word entries (``5 Mar
    1971``) match consecutive recognised words. No duplicates, upper case."""
    found: list[str] = []
    for keyword in _NAME_KEYWORDS:
        for name in _text(ds, keyword):
            found += [p for p in re.split(r"[\^= ]+", name) if len(p.strip(".,")) >= MIN_LENGTH]
    for keyword in _TEXT_KEYWORDS:
        for text in _text(ds, keyword):
            found.append(text.strip())
            found += [w for w in text.split() if len(_EDGES.sub("", w)) >= _TEXT_WORD]
    for keyword in _DATE_KEYWORDS:
        for text in _text(ds, keyword):
            found += date_forms(text)
    words = [w.strip().upper() for w in found if len(w.strip()) >= MIN_LENGTH]
    return list(dict.fromkeys(words))


def _near(a: str, b: str) -> bool:
    """Equal, or one substitution, insertion or deletion apart (Levenshtein ≤ 1)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _token_match(seen: str, value: str) -> bool:
    """One recognised word (canonical) against one value word (canonical)."""
    if len(seen) < MIN_LENGTH or len(value) < MIN_LENGTH:
        return False
    if seen == value:
        return True
    if len(value) >= _FUZZY_VALUE and len(seen) >= _FUZZY_SEEN and _near(seen, value):
        return True
    # cut at the edge of the screen or of the field: "HOSPI" for "HOSPITAL"
    return len(value) >= _PREFIX_VALUE and len(seen) >= _PREFIX_SEEN and value.startswith(seen)


class Matcher:
    """Matches recognised words against a file's identifying values.

    ``Matcher(identifying_words(ds)).match(words)`` gives, for a line of recognised words
    (in reading order), the indexes of the words that are identifying.
    """

    def __init__(self, values: Iterable[str]) -> None:
        self.values = [v for v in values if v.strip()]
        self._sequences = [
            [canonical(p) for p in v.split()] for v in self.values if len(v.split()) > 1
        ]
        singles = [canonical(v) for v in self.values if len(v.split()) == 1]
        self._exact = {s for s in singles if s}
        self._fuzzy = [s for s in self._exact if len(s) >= _FUZZY_VALUE]

    def word(self, text: str) -> bool:
        """Whether one recognised word is, or contains as a part, an identifying value."""
        parts = [text, *_SPLIT.split(text)]
        for part in parts:
            seen = canonical(part)
            if len(seen) < MIN_LENGTH:
                continue
            if seen in self._exact:
                return True
            if any(_token_match(seen, value) for value in self._fuzzy):
                return True
            if self._joined(seen):
                return True
        return False

    def _joined(self, seen: str) -> bool:
        """Two values read as one word, the separator lost or misread ("DOESJOHN" for
        "DOE^JOHN"): both halves must be values of three or more characters."""
        for cut in range(_JOINED, len(seen) - _JOINED + 1):
            left = seen[:cut]
            if left in self._exact and (
                seen[cut:] in self._exact
                or (len(seen) - cut > _JOINED and seen[cut + 1 :] in self._exact)
            ):
                return True
        return False

    def match(self, words: Sequence[str]) -> set[int]:
        """Indexes of identifying words in a line of recognised ``words``."""
        hits = {i for i, w in enumerate(words) if self.word(w)}
        folded = [canonical(w) for w in words]
        for sequence in self._sequences:
            n = len(sequence)
            for start in range(len(folded) - n + 1):
                if all(folded[start + k] == sequence[k] for k in range(n)):
                    hits.update(range(start, start + n))
        return hits
