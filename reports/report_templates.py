"""Report templates: default section text per modality and body part, as plain data.

A template is chosen automatically from the study's modalities and body part
(:func:`choose_template`) and can be switched in the editor. Only sections that the
radiologist has not touched take the new template's text (``frontend/src/report-editor.entry.js``).
"""

from __future__ import annotations

from typing import Any, TypedDict

from reports.states import gettext_noop


class ReportTemplate(TypedDict):
    """One template: a label, what it matches and the default text of each section."""

    label: str
    modalities: list[str]
    body_parts: list[str]
    sections: dict[str, str]


SECTIONS: list[tuple[str, str]] = [
    ("clinical_information", gettext_noop("Clinical information")),
    ("technique", gettext_noop("Technique")),
    ("comparison", gettext_noop("Comparison")),
    ("findings", gettext_noop("Findings")),
    ("impression", gettext_noop("Impression")),
    ("recommendations", gettext_noop("Recommendations")),
]
SECTION_NAMES = [name for name, _ in SECTIONS]

GENERIC = "generic"

TEMPLATES: dict[str, ReportTemplate] = {
    "ct-head": {
        "label": "CT head",
        "modalities": ["CT"],
        "body_parts": ["HEAD", "BRAIN", "SKULL"],
        "sections": {
            "technique": "Axial CT images of the head were acquired without intravenous contrast.",
            "comparison": "None available.",
            "findings": (
                "Brain parenchyma: \nVentricles and sulci: \nExtra-axial spaces: \n"
                "Calvarium and skull base: \nParanasal sinuses and mastoids: "
            ),
        },
    },
    "ct-chest": {
        "label": "CT chest",
        "modalities": ["CT"],
        "body_parts": ["CHEST", "THORAX", "LUNG"],
        "sections": {
            "technique": (
                "Axial CT images of the chest were acquired. Multiplanar reformats were reviewed."
            ),
            "comparison": "None available.",
            "findings": (
                "Lungs and airways: \nPleura: \nMediastinum and hila: \nHeart and great vessels: \n"
                "Upper abdomen: \nBones and soft tissues: "
            ),
        },
    },
    "ct": {
        "label": "CT (general)",
        "modalities": ["CT"],
        "body_parts": [],
        "sections": {
            "technique": "Axial CT images were acquired. Multiplanar reformats were reviewed.",
            "comparison": "None available.",
            "findings": "",
        },
    },
    "mr-brain": {
        "label": "MR brain",
        "modalities": ["MR"],
        "body_parts": ["HEAD", "BRAIN"],
        "sections": {
            "technique": "Multiplanar, multisequence MR images of the brain.",
            "comparison": "None available.",
            "findings": (
                "Brain parenchyma: \nDiffusion: \nVentricles and sulci: \nExtra-axial spaces: \n"
                "Vessels (flow voids): \nOrbits, sinuses and mastoids: "
            ),
        },
    },
    "mr": {
        "label": "MR (general)",
        "modalities": ["MR"],
        "body_parts": [],
        "sections": {
            "technique": "Multiplanar, multisequence MR images.",
            "comparison": "None available.",
            "findings": "",
        },
    },
    "xray-chest": {
        "label": "X-ray chest",
        "modalities": ["CR", "DX"],
        "body_parts": ["CHEST", "THORAX"],
        "sections": {
            "technique": "Frontal radiograph of the chest.",
            "comparison": "None available.",
            "findings": (
                "Lines and tubes: \nLungs: \nPleura: \nHeart and mediastinum: \n"
                "Bones and soft tissues: "
            ),
        },
    },
    "xray": {
        "label": "X-ray (general)",
        "modalities": ["CR", "DX"],
        "body_parts": [],
        "sections": {
            "technique": "Radiographs as listed.",
            "comparison": "None available.",
            "findings": "",
        },
    },
    "us": {
        "label": "Ultrasound",
        "modalities": ["US"],
        "body_parts": [],
        "sections": {
            "technique": (
                "Real-time grey-scale and colour Doppler ultrasound (stored images reviewed)."
            ),
            "comparison": "None available.",
            "findings": "",
        },
    },
    GENERIC: {
        "label": "Generic",
        "modalities": [],
        "body_parts": [],
        "sections": {"technique": "", "comparison": "None available.", "findings": ""},
    },
}


def sections_of(key: str) -> dict[str, str]:
    """Default text of every section for template ``key`` (generic for an unknown key).

    Parameters
    ----------
    key
        A key of :data:`TEMPLATES`.

    Returns
    -------
    dict
        Section name to default text; every name of :data:`SECTION_NAMES` is present.
    """
    template = TEMPLATES.get(key, TEMPLATES[GENERIC])
    return {name: template["sections"].get(name, "") for name in SECTION_NAMES}


def choose_template(modalities: str, body_part: str = "") -> str:
    """The best template for a study's modalities (comma-separated) and body part.

    A template matching modality and body part wins over one matching the modality
    only; with no match the generic template is chosen.

    Parameters
    ----------
    modalities
        ``Study.modalities``, e.g. ``"CT"`` or ``"CT,SR"``.
    body_part
        ``Study.body_part`` (DICOM Body Part Examined), may be empty.

    Returns
    -------
    str
        A key of :data:`TEMPLATES`.
    """
    present = {m.strip().upper() for m in modalities.replace("\\", ",").split(",") if m.strip()}
    part = body_part.strip().upper()
    best, best_score = GENERIC, 0
    for key, template in TEMPLATES.items():
        if not present.intersection(template["modalities"]):
            continue
        score = 1
        if template["body_parts"]:
            if not part or not any(p in part for p in template["body_parts"]):
                continue
            score = 2
        if score > best_score:
            best, best_score = key, score
    return best


def choices() -> list[tuple[str, str]]:
    """``(key, label)`` pairs for the editor's template select."""
    return [(key, template["label"]) for key, template in TEMPLATES.items()]


def as_json() -> dict[str, Any]:
    """Every template's section defaults, for the editor script (``json_script``)."""
    return {key: sections_of(key) for key in TEMPLATES}
