"""Intake: the one way bytes enter the portal, and what happens to them until they are
stored, de-identified, as instances of a study.

Browser API (``api``), DICOM receiver (``receiver``, C-STORE) and ``import_dicom`` hand
whole files to ``receive.receive_whole`` (quota, quarantine, queue); ``tasks`` runs
``ingest`` in a Celery worker (read, check, de-identify, unpack ZIPs, index, store through
``uploads.storage``). ``lifecycle`` and ``watchdog`` make every upload end; ``admin_views``
shows uploads to admins; ``deid_api`` serves the browser the profile it runs.
"""

#: Modules other parts may import; the rest are this part's internals
#: (``tests/test_architecture.py`` checks it).
PUBLIC = ("keys", "receive", "receiver", "tasks")
