"""Every person's name of a study is cut out of the kept descriptors (issue 20), and the
Selector UR Value dummy is a valid URI.

Real files (pydicom's CT_small and MR_small) made into one study whose descriptors name
its referring and performing physicians, each name found in one file only.
"""

from __future__ import annotations

import io
import re

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.dicom.conftest import sample_bytes
from uploads.dicom.deidentify import (
    DeidOptions,
    deidentify_bytes,
    name_parts,
    person_names,
)

KEY = b"names-test-key"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
# Names of people other than the patient, each in one file only.
REFERRING = "Oladele^Adaeze"
PERFORMING = "Vandamme^Kris^^Dr."
SCHEDULED = "Li^Wu"  # two-letter parts, nested in a sequence


def _bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def study_files() -> list[bytes]:
    """Two real files of one study; the descriptors of each name people of the other."""
    ct = dcmread(io.BytesIO(sample_bytes("CT_small.dcm")))
    ct.StudyInstanceUID = STUDY_UID
    ct.ReferringPhysicianName = REFERRING
    ct.StudyDescription = "Investigators^Oladele"
    ct.SeriesDescription = "VANDAMME protocol, Li lab"  # names found only in the MR
    ct.ImageComments = "Oliver liver Adaeze_x"  # no whole name word except none
    mr = dcmread(io.BytesIO(sample_bytes("MR_small.dcm")))
    mr.StudyInstanceUID = STUDY_UID
    mr.PerformingPhysicianName = PERFORMING
    step = Dataset()
    step.ScheduledPerformingPhysicianName = SCHEDULED
    step.ScheduledProcedureStepDescription = "Head"
    mr.ScheduledProcedureStepSequence = Sequence([step])
    mr.StudyDescription = "Investigators^Oladele"
    mr.SeriesDescription = "for Dr Adaeze OLADELE and wu"
    return [_bytes(ct), _bytes(mr)]


def deidentify_study(files: list[bytes], across: bool = True) -> list[Dataset]:
    names: set[str] = set()
    if across:
        for data in files:
            names |= person_names(dcmread(io.BytesIO(data)))
    outputs: list[Dataset] = []
    for data in files:
        clean, _ = deidentify_bytes(data, key=KEY, options=DeidOptions(), names=names)
        outputs.append(dcmread(io.BytesIO(clean)))
    return outputs


def words(ds: Dataset) -> str:
    return " ".join(str(e.value) for e in ds.iterall() if e.VR not in ("OB", "OW", "SQ"))


def test_person_names_are_gathered_at_any_depth() -> None:
    ct, mr = (dcmread(io.BytesIO(d)) for d in study_files())
    assert REFERRING in person_names(ct)
    assert {PERFORMING, SCHEDULED} <= person_names(mr)


def test_name_parts_are_names_not_titles() -> None:
    assert name_parts([PERFORMING]) == {"Vandamme", "Kris"}
    assert name_parts(["Van Damme-Smith^J"]) == {"Van Damme-Smith", "Van", "Damme", "Smith"}
    assert name_parts(["ANONYMIZED", "PSN-ABCDEFGHIJ"]) == set()


def test_no_physician_name_remains_in_any_output_of_the_study() -> None:
    outputs = deidentify_study(study_files())
    for ds in outputs:
        text = words(ds)
        for part in ("Oladele", "Adaeze", "Vandamme", "Kris", "Li", "Wu"):
            assert not re.search(rf"(?<!\w){part}(?!\w)", text, re.IGNORECASE), (part, text)
    ct, mr = outputs
    assert ct.StudyDescription == "Investigators^*******"
    assert ct.SeriesDescription == "******** protocol, ** lab"
    assert ct.ImageComments == "Oliver liver Adaeze_x"  # parts of words are not names
    assert mr.SeriesDescription == "for Dr ****** ******* and **"


def test_without_the_other_files_names_a_name_of_another_file_stays() -> None:
    """Why the names of the whole study are needed: the CT alone does not know the
    performing physician's name the MR holds."""
    ct, _ = deidentify_study(study_files(), across=False)
    assert ct.StudyDescription == "Investigators^*******"  # its own referring physician
    assert ct.SeriesDescription == "VANDAMME protocol, Li lab"


def test_names_are_kept_when_descriptors_are_not_kept() -> None:
    """Without Clean Descriptors the descriptors go (Basic Profile): nothing to mask."""
    ct = study_files()[0]
    clean, _ = deidentify_bytes(ct, key=KEY, options=DeidOptions(clean_descriptors=False))
    assert "StudyDescription" not in dcmread(io.BytesIO(clean))


def test_selector_ur_value_gets_a_valid_uri_dummy() -> None:
    """Selector UR Value (0072,0071) is D in Table E.1-1: a non-empty dummy, and a UR
    value must be a URI (PS3.5 6.2, RFC 3986)."""
    ds = dcmread(io.BytesIO(sample_bytes("CT_small.dcm")))
    ds.add_new(0x00720071, "UR", "https://hospital.example/patients/12345")
    clean, result = deidentify_bytes(_bytes(ds), key=KEY)
    value = dcmread(io.BytesIO(clean))[0x00720071].value
    assert value == "http://example.invalid/"
    assert re.match(r"^[a-z][a-z0-9+.-]*://[^\s/]+/", value)
    assert ("0072,0071", "replaced") in {(a.tag, a.action) for a in result.actions}
