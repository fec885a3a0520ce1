"""Research cohorts imported from a PACS over DICOM (C-FIND, C-GET): the peers
(``models.PacsPeer``), the imports and their progress (``models.PacsImport``), the service
the command, the Celery task and the admin page all call (``service``), and the DICOM
network calls (``dimse``, plain Python). Docs: docs/pacs.md.
"""
