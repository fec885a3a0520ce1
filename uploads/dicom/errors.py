"""Errors of the DICOM engine.

``DicomInputError`` is a *permanent* error: the input itself is unusable (not DICOM,
truncated, missing UIDs, too large). Callers report its message to the user per file and
never retry. Anything else raised by the engine is a bug or a transient fault.
Messages are plain words for the uploader and never contain patient data.
"""


class DicomInputError(ValueError):
    """The input cannot be used; ``str(error)`` is a message for the uploader."""

    @property
    def message(self) -> str:
        return str(self)
