"""Which faults are worth retrying: the one definition used by ingest, exports, the
viewer's pre-render and report delivery (ADIT's split of retriable and permanent errors).

A *transient* fault is one of the services the portal leans on being briefly away: the
database (locked, restarted, a dropped connection), the storage back-end or the network
(``OSError``, which ``ConnectionError`` and ``TimeoutError`` are kinds of). A task that
meets one rolls back, hands its work back and retries with backoff.

Anything else is *permanent*: retrying gives the same answer, so the item ends with a
message for the person (a file that is not DICOM: ``uploads.dicom.errors.DicomInputError``;
a study that cannot be exported; a report in the wrong state: ``reports.errors``).
"""

from __future__ import annotations

import smtplib

from django.db import DatabaseError

#: The database, the storage back-end or the network was briefly unreachable.
TRANSIENT: tuple[type[Exception], ...] = (DatabaseError, OSError, ConnectionError, TimeoutError)

#: Sending an email: the mail server refused, timed out or was unreachable.
MAIL_TRANSIENT: tuple[type[Exception], ...] = (smtplib.SMTPException, OSError)
