"""Sharing: share links (a study for someone without an account, with verdicts), exports
(DICOM ZIP, PNG, NIfTI) built by Celery tasks, and research cohorts (a patient list
matched by pseudonym, exported for a study team).
"""

#: Modules other parts may import; the rest are this part's internals
#: (``tests/test_architecture.py`` checks it).
PUBLIC = ("cohort", "exports")
