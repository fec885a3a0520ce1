"""The browser's port of the word matching (frontend/src/words.js, run in Node) gives the
same identifying words and the same matches as uploads/dicom/words.py on a table of cases:
exact values, O/0 folds, one wrong letter, a word cut at the edge, two values read as one,
dates in several words, and scanner labels that must not match (issue 20: the header
values stay in the browser, so the browser decides which boxes are identifying)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from tests.uploads.test_deid_crosscheck import NODE
from uploads.dicom.words import Matcher, identifying_words

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")
TOOL = Path(__file__).resolve().parents[2] / "frontend" / "tools" / "words-node.mjs"
VALUES: dict[str, list[str]] = {
    "PatientName": ["DOE^JOHN"],
    "PatientID": ["4711-0815"],
    "PatientBirthDate": ["19710305"],
    "InstitutionName": ["Saint Mary Hospital"],
    "ReferringPhysicianName": ["SMITH^ALEXANDRA^B"],
}
#: (line of recognised words, the indexes that are identifying)
CASES: list[tuple[list[str], list[int]]] = [
    (["DOE", "JOHN"], [0, 1]),  # exact
    (["D0E", "J0HN"], [0, 1]),  # O read as 0
    (["Doe,", "John."], [0, 1]),  # case and outer punctuation
    (["ALEXANDRO"], [0]),  # one wrong letter in a long value
    (["ALEXAN"], [0]),  # cut at the edge of the screen
    (["HOSPI"], [0]),  # cut institution word
    (["DOESJOHN"], [0]),  # two values joined, the ^ misread
    (["DOEJOHN"], [0]),  # two values joined
    (["ID", "4711-0815"], [1]),  # the ID, not its label
    (["ID:4711-0815"], [0]),  # the ID inside a longer word
    (["5", "Mar", "1971"], [0, 1, 2]),  # a date in three words
    (["MARCH", "05", "1971"], [0, 1, 2]),
    (["DOB", "05/03/1971"], [1]),
    (["1971-03-05"], [0]),
    (["05", "Mar", "1972"], []),  # another date
    (["C5-1", "ABD", "MI", "0.8", "cm", "TIS", "0.4"], []),  # scanner labels
    (["J", "D", "S"], []),  # single letters never match
    (["JOE", "DOUGH"], []),  # near but short
    (["SMITH", "B"], [0]),  # a one-letter initial is not looked for
    (["ÖZTÜRK", "Ø", "MÜLLER,", "«LI»", "ID:MÜLLER"], []),  # other scripts: see `other`
]


def run_node(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(NODE), str(TOOL)],
        input=json.dumps({"cases": cases}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)["results"]


def dataset(values: dict[str, list[str]]) -> Dataset:
    ds = Dataset()
    for keyword, items in values.items():
        setattr(ds, keyword, items if len(items) > 1 else items[0])
    return ds


def test_python_and_the_browser_port_give_the_same_answers() -> None:
    lines = [line for line, _ in CASES]
    other = {
        "PatientName": ["LI^WU=MÜLLER", "ÖZTÜRK^Ø"],
        "StudyDate": ["20240229", "20230229"],
    }
    (js, js_other) = run_node(
        [{"values": VALUES, "lines": lines}, {"values": other, "lines": lines}]
    )
    words = identifying_words(dataset(VALUES))
    assert js["words"] == words
    matcher = Matcher(words)
    python_hits = [sorted(matcher.match(line)) for line in lines]
    assert js["hits"] == python_hits
    # and both are right
    assert python_hits == [hits for _, hits in CASES]
    # names of two letters, other scripts, leap days and invalid dates too
    other_words = identifying_words(dataset(other))
    assert js_other["words"] == other_words
    assert "LI" in other_words and "MÜLLER" in other_words and "20240229" in other_words
    assert "20230229" not in other_words
    other_matcher = Matcher(other_words)
    other_hits = [sorted(other_matcher.match(line)) for line in lines]
    assert js_other["hits"] == other_hits
    assert other_hits[-1] == [0, 2, 3, 4]
