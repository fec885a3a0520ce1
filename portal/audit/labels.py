"""The audit log in plain words: what the admin's audit page shows for an event's code,
object type and details. The codes stay in the database (and in ``data-action``) for
filtering and tools; people read sentences.

An event code without an entry (a new one) is shown as its words ("mfa.enabled" →
"Mfa enabled"), never hidden. The words are marked with ``gettext_noop`` and translated
when a page asks for them (in the reader's language); the database keeps only codes.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext, gettext_noop

ACTIONS: dict[str, str] = {
    "login": gettext_noop("Signed in"),
    "login.failed": gettext_noop("Sign-in failed"),
    "logout": gettext_noop("Signed out"),
    "mfa.failed": gettext_noop("Wrong two-factor code"),
    "mfa.enrolled": gettext_noop("Turned on two-factor sign-in"),
    "mfa.disabled": gettext_noop("Turned off two-factor sign-in"),
    "mfa.recovery_used": gettext_noop("Signed in with a recovery code"),
    "mfa.recovery_regenerated": gettext_noop("Made new recovery codes"),
    "mfa.reset": gettext_noop("Reset a user's two-factor sign-in"),
    "reauth": gettext_noop("Confirmed it was them"),
    "reauth.failed": gettext_noop("Could not confirm it was them"),
    "session.expired": gettext_noop("Session ended by the time limits"),
    "session.ended": gettext_noop("Signed out a session"),
    "session.ended_all": gettext_noop("Signed out everywhere else"),
    "account.signup": gettext_noop("Signed up"),
    "account.signup_existing": gettext_noop("Signed up again with an existing address"),
    "account.verified": gettext_noop("Confirmed the email address"),
    "account.invited": gettext_noop("Invited a user"),
    "account.invite_accepted": gettext_noop("Accepted an invitation"),
    "account.updated": gettext_noop("Changed a user's role or status"),
    "account.invite_resent": gettext_noop("Sent an invitation again"),
    "account.linked": gettext_noop("Linked a sign-in from the identity provider"),
    "account.role_from_oidc": gettext_noop("Role set by the identity provider"),
    "account.verification_resent": gettext_noop("Sent a new confirmation link"),
    "upload.created": gettext_noop("Started an upload"),
    "upload.finished": gettext_noop("Upload finished"),
    "upload.cancelled": gettext_noop("Cancelled an upload"),
    "upload.closed": gettext_noop("Closed an upload"),
    "upload.retried": gettext_noop("Retried an upload"),
    "study.viewed": gettext_noop("Opened a study"),
    "request.viewed": gettext_noop("Opened a review request"),
    "study.viewer_opened": gettext_noop("Opened the viewer"),
    "study.assigned": gettext_noop("Assigned a study"),
    "study.claimed": gettext_noop("Claimed a study"),
    "study.review_started": gettext_noop("Started a review"),
    "study.request_updated": gettext_noop("Changed the question or urgency"),
    "study.cancelled": gettext_noop("Cancelled a request for review"),
    "request.assigned": gettext_noop("Assigned a review request"),
    "request.claimed": gettext_noop("Claimed a review request"),
    "request.review_started": gettext_noop("Started a review"),
    "request.updated": gettext_noop("Changed the question or urgency"),
    "request.cancelled": gettext_noop("Cancelled a request for review"),
    "request.reported": gettext_noop("Signed the report of a review request"),
    "request.amended": gettext_noop("Signed an addendum to a review request"),
    "report.draft_created": gettext_noop("Started a report"),
    "report.draft_opened": gettext_noop("Opened a report draft"),
    "report.draft_saved": gettext_noop("Saved a report draft"),
    "report.key_image_added": gettext_noop("Added a key image"),
    "report.previewed": gettext_noop("Previewed a report"),
    "report.signed": gettext_noop("Signed a report"),
    "report.addendum_started": gettext_noop("Started an addendum"),
    "report.viewed": gettext_noop("Read a report"),
    "report.pdf_downloaded": gettext_noop("Downloaded a report as PDF"),
    "delivery.queued": gettext_noop("Report email queued"),
    "delivery.sent": gettext_noop("Report email sent"),
    "delivery.retrying": gettext_noop("Report email will be retried"),
    "delivery.failed": gettext_noop("Report email failed"),
    "delivery.resent": gettext_noop("Report email sent again"),
    "notification.read": gettext_noop("Read a notification"),
    "share.created": gettext_noop("Created a share link"),
    "share.revoked": gettext_noop("Revoked a share link"),
    "share.opened": gettext_noop("Opened a share link"),
    "share.refused": gettext_noop("Share link refused"),
    "share.passcode_failed": gettext_noop("Wrong share-link passcode"),
    "share.verdict": gettext_noop("Answered through a share link"),
    "share.answer_emailed": gettext_noop("Told the sharer by email that an answer waits"),
    "share.export_requested": gettext_noop("Asked for an export through a share link"),
    "share.downloaded": gettext_noop("Downloaded through a share link"),
    "export.requested": gettext_noop("Asked for an export"),
    "export.downloaded": gettext_noop("Downloaded an export"),
    "apitoken.created": gettext_noop("Created an API token"),
    "apitoken.revoked": gettext_noop("Revoked an API token"),
    "pacs.peer_added": gettext_noop("Added a PACS"),
    "pacs.echo": gettext_noop("Checked the connection to a PACS"),
    "pacs.import_started": gettext_noop("Started an import from a PACS"),
    "pacs.import_restarted": gettext_noop("Ran an import from a PACS again"),
    "dicomweb.studies": gettext_noop("Searched studies (DICOMweb)"),
    "dicomweb.search": gettext_noop("Searched series or images (DICOMweb)"),
    "dicomweb.study": gettext_noop("Downloaded a study (DICOMweb)"),
    "dicomweb.series": gettext_noop("Downloaded a series (DICOMweb)"),
    "dicomweb.instance": gettext_noop("Downloaded an image file (DICOMweb)"),
    "dicomweb.metadata": gettext_noop("Read image attributes (DICOMweb)"),
    "dicomweb.frames": gettext_noop("Read image pixels (DICOMweb)"),
    "dicomweb.rendered": gettext_noop("Viewed a rendered image (DICOMweb)"),
    "dicomweb.store": gettext_noop("Stored files (DICOMweb)"),
}

#: The filter's choices: an event code prefix and what it covers.
GROUPS: list[tuple[str, str]] = [
    ("login", gettext_noop("Sign-ins")),
    ("account.", gettext_noop("Accounts")),
    ("mfa.", gettext_noop("Two-factor sign-in")),
    ("session.", gettext_noop("Sessions")),
    ("upload.", gettext_noop("Uploads")),
    ("study.", gettext_noop("Studies")),
    ("request.", gettext_noop("Review requests")),
    ("report.", gettext_noop("Reports")),
    ("delivery.", gettext_noop("Report emails")),
    ("share.", gettext_noop("Share links")),
    ("export.", gettext_noop("Exports")),
    ("dicomweb.", gettext_noop("DICOMweb")),
    ("pacs.", gettext_noop("Imports from a PACS")),
    ("apitoken.", gettext_noop("API tokens")),
]

OBJECTS: dict[str, str] = {
    "accounts.user": gettext_noop("User"),
    "uploads.upload": gettext_noop("Upload"),
    "uploads.study": gettext_noop("Study"),
    "uploads.reviewrequest": gettext_noop("Review request"),
    "uploads.sharelink": gettext_noop("Share link"),
    "uploads.export": gettext_noop("Export"),
    "reports.report": gettext_noop("Report"),
    "reports.reportversion": gettext_noop("Report version"),
    "reports.delivery": gettext_noop("Report email"),
    "reports.notification": gettext_noop("Notification"),
    "apitokens.apitoken": gettext_noop("API token"),
    "pacs.pacspeer": gettext_noop("PACS"),
    "pacs.pacsimport": gettext_noop("PACS import"),
}

DETAIL_KEYS: dict[str, str] = {
    "files": gettext_noop("files"),
    "review_request": gettext_noop("review request"),
    "request_id": gettext_noop("review request"),
    "study": gettext_noop("study"),
    "version": gettext_noop("version"),
    "attempts": gettext_noop("attempts"),
    "active": gettext_noop("active"),
    "reason": gettext_noop("reason"),
    "error": gettext_noop("error"),
    "role": gettext_noop("role"),
    "verdict": gettext_noop("verdict"),
    "kind": gettext_noop("kind"),
    "choice": gettext_noop("choice no."),
    "method": gettext_noop("by"),
    "mfa": gettext_noop("second factor"),
    "via": gettext_noop("through"),
    "status": gettext_noop("answer"),
}


def humanize(code: str) -> str:
    words = code.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def action_label(code: str) -> str:
    return gettext(ACTIONS[code]) if code in ACTIONS else humanize(code)


def groups() -> list[tuple[str, str]]:
    """The filter's choices in the reader's language."""
    return [(prefix, gettext(label)) for prefix, label in GROUPS]


def object_label(object_type: str, object_id: str) -> str:
    if not object_type:
        return ""
    name = (
        gettext(OBJECTS[object_type])
        if object_type in OBJECTS
        else humanize(object_type.rsplit(".", 1)[-1])
    )
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
            value = gettext("yes") if value else gettext("no")
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, str):
            value = value.replace("_", " ")
        name = gettext(DETAIL_KEYS[key]) if key in DETAIL_KEYS else key.replace("_", " ")
        parts.append(f"{name} {value}")
    return " · ".join(parts)
