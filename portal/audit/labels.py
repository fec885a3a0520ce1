"""The audit log in plain words: what the admin's audit page shows for an event's code,
object type and details. The codes stay in the database (and in ``data-action``) for
filtering and tools; people read sentences.

An event code without an entry (a new one) is shown as its words ("mfa.enabled" →
"Mfa enabled"), never hidden.
"""

from __future__ import annotations

from typing import Any

ACTIONS: dict[str, str] = {
    "login": "Signed in",
    "login.failed": "Sign-in failed",
    "logout": "Signed out",
    "mfa.failed": "Wrong two-factor code",
    "mfa.enrolled": "Turned on two-factor sign-in",
    "mfa.disabled": "Turned off two-factor sign-in",
    "mfa.recovery_used": "Signed in with a recovery code",
    "mfa.recovery_regenerated": "Made new recovery codes",
    "mfa.reset": "Reset a user's two-factor sign-in",
    "reauth": "Confirmed it was them",
    "reauth.failed": "Could not confirm it was them",
    "session.expired": "Session ended by the time limits",
    "session.ended": "Signed out a session",
    "session.ended_all": "Signed out everywhere else",
    "account.signup": "Signed up",
    "account.signup_existing": "Signed up again with an existing address",
    "account.verified": "Confirmed the email address",
    "account.invited": "Invited a user",
    "account.invite_accepted": "Accepted an invitation",
    "account.updated": "Changed a user's role or status",
    "account.invite_resent": "Sent an invitation again",
    "account.linked": "Linked a sign-in from the identity provider",
    "account.role_from_oidc": "Role set by the identity provider",
    "account.verification_resent": "Sent a new confirmation link",
    "upload.created": "Started an upload",
    "upload.finished": "Upload finished",
    "upload.cancelled": "Cancelled an upload",
    "upload.closed": "Closed an upload",
    "upload.retried": "Retried an upload",
    "study.viewed": "Opened a study",
    "request.viewed": "Opened a review request",
    "study.viewer_opened": "Opened the viewer",
    "study.assigned": "Assigned a study",
    "study.claimed": "Claimed a study",
    "study.review_started": "Started a review",
    "study.request_updated": "Changed the question or urgency",
    "study.cancelled": "Cancelled a request for review",
    "request.assigned": "Assigned a review request",
    "request.claimed": "Claimed a review request",
    "request.review_started": "Started a review",
    "request.updated": "Changed the question or urgency",
    "request.cancelled": "Cancelled a request for review",
    "request.reported": "Signed the report of a review request",
    "request.amended": "Signed an addendum to a review request",
    "report.draft_created": "Started a report",
    "report.draft_opened": "Opened a report draft",
    "report.draft_saved": "Saved a report draft",
    "report.key_image_added": "Added a key image",
    "report.previewed": "Previewed a report",
    "report.signed": "Signed a report",
    "report.addendum_started": "Started an addendum",
    "report.viewed": "Read a report",
    "report.pdf_downloaded": "Downloaded a report as PDF",
    "delivery.queued": "Report email queued",
    "delivery.sent": "Report email sent",
    "delivery.retrying": "Report email will be retried",
    "delivery.failed": "Report email failed",
    "delivery.resent": "Report email sent again",
    "notification.read": "Read a notification",
    "share.created": "Created a share link",
    "share.revoked": "Revoked a share link",
    "share.opened": "Opened a share link",
    "share.refused": "Share link refused",
    "share.passcode_failed": "Wrong share-link passcode",
    "share.verdict": "Answered through a share link",
    "share.answer_emailed": "Told the sharer by email that an answer waits",
    "share.export_requested": "Asked for an export through a share link",
    "share.downloaded": "Downloaded through a share link",
    "export.requested": "Asked for an export",
    "export.downloaded": "Downloaded an export",
    "apitoken.created": "Created an API token",
    "apitoken.revoked": "Revoked an API token",
    "pacs.peer_added": "Added a PACS",
    "pacs.echo": "Checked the connection to a PACS",
    "pacs.import_started": "Started an import from a PACS",
    "pacs.import_restarted": "Ran an import from a PACS again",
    "dicomweb.studies": "Searched studies (DICOMweb)",
    "dicomweb.search": "Searched series or images (DICOMweb)",
    "dicomweb.study": "Downloaded a study (DICOMweb)",
    "dicomweb.series": "Downloaded a series (DICOMweb)",
    "dicomweb.instance": "Downloaded an image file (DICOMweb)",
    "dicomweb.metadata": "Read image attributes (DICOMweb)",
    "dicomweb.frames": "Read image pixels (DICOMweb)",
    "dicomweb.rendered": "Viewed a rendered image (DICOMweb)",
    "dicomweb.store": "Stored files (DICOMweb)",
}

#: The filter's choices: an event code prefix and what it covers.
GROUPS: list[tuple[str, str]] = [
    ("login", "Sign-ins"),
    ("account.", "Accounts"),
    ("mfa.", "Two-factor sign-in"),
    ("session.", "Sessions"),
    ("upload.", "Uploads"),
    ("study.", "Studies"),
    ("request.", "Review requests"),
    ("report.", "Reports"),
    ("delivery.", "Report emails"),
    ("share.", "Share links"),
    ("export.", "Exports"),
    ("dicomweb.", "DICOMweb"),
    ("pacs.", "Imports from a PACS"),
    ("apitoken.", "API tokens"),
]

OBJECTS: dict[str, str] = {
    "accounts.user": "User",
    "uploads.upload": "Upload",
    "uploads.study": "Study",
    "uploads.reviewrequest": "Review request",
    "uploads.sharelink": "Share link",
    "uploads.export": "Export",
    "reports.report": "Report",
    "reports.reportversion": "Report version",
    "reports.delivery": "Report email",
    "reports.notification": "Notification",
    "apitokens.apitoken": "API token",
    "pacs.pacspeer": "PACS",
    "pacs.pacsimport": "PACS import",
}

DETAIL_KEYS: dict[str, str] = {
    "files": "files",
    "review_request": "review request",
    "request_id": "review request",
    "study": "study",
    "version": "version",
    "attempts": "attempts",
    "active": "active",
    "reason": "reason",
    "error": "error",
    "role": "role",
    "verdict": "verdict",
    "kind": "kind",
    "choice": "choice no.",
    "method": "by",
    "mfa": "second factor",
    "via": "through",
    "status": "answer",
}


def humanize(code: str) -> str:
    words = code.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def action_label(code: str) -> str:
    return ACTIONS.get(code) or humanize(code)


def object_label(object_type: str, object_id: str) -> str:
    if not object_type:
        return ""
    name = OBJECTS.get(object_type) or humanize(object_type.rsplit(".", 1)[-1])
    return f"{name} {object_id}".strip()


def detail_text(detail: Any) -> str:
    """``{"files": 3, "active": False}`` → "files 3 · active no"."""
    if not isinstance(detail, dict):
        return ""
    parts = []
    for key, value in detail.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, str):
            value = value.replace("_", " ")
        parts.append(f"{DETAIL_KEYS.get(key, key.replace('_', ' '))} {value}")
    return " · ".join(parts)
