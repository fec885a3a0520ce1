"""Routes of the reporting workflow (included at the root by ``portal/urls.py``)."""

from django.urls import path

from reports.views import (
    cases,
    deliveries,
    editor,
    manage,
    notifications,
    output,
    reading,
    request,
    worklist,
)

urlpatterns = [
    # a review request (case): its studies, the patient's priors, its timeline and actions
    path("requests/<int:pk>/", cases.review_request, name="review-request"),
    # the uploader's request
    path("requests/<int:pk>/edit/", request.request_edit, name="request-edit"),
    path("requests/<int:pk>/cancel/", request.request_cancel, name="request-cancel"),
    # radiologists
    path("worklist/", worklist.worklist, name="worklist"),
    path("requests/<int:pk>/claim/", worklist.claim, name="request-claim"),
    path("requests/<int:pk>/report/", editor.editor, name="report-editor"),
    path("requests/<int:pk>/read/", reading.reading, name="reading"),
    path(
        "requests/<int:pk>/report/annotations/",
        reading.report_annotations,
        name="report-annotations",
    ),
    path("requests/<int:pk>/report/autosave/", editor.autosave, name="report-autosave"),
    path("requests/<int:pk>/report/key-images/", editor.add_key_image, name="report-key-image"),
    path("requests/<int:pk>/report/sign/", editor.sign, name="report-sign"),
    path("requests/<int:pk>/report/addendum/", editor.addendum, name="report-addendum"),
    path("requests/<int:pk>/report/preview/", editor.preview, name="report-preview"),
    # readers
    path("requests/<int:pk>/report/view/", output.report_view, name="report-view"),
    path("requests/<int:pk>/report/pdf/", output.report_pdf, name="report-pdf"),
    path(
        "requests/<int:pk>/report/key-images/<int:index>.png",
        output.report_key_image,
        name="report-key-image-png",
    ),
    path("notifications/", notifications.notifications, name="notifications"),
    path("notifications/<int:pk>/read/", notifications.notification_read, name="notification-read"),
    # admins
    path("manage/", manage.manage, name="manage"),
    path("manage/requests/<int:pk>/assign/", manage.assign_request, name="assign-request"),
    path("manage/deliveries/", deliveries.deliveries, name="deliveries"),
    path("manage/deliveries/<int:pk>/resend/", deliveries.resend, name="delivery-resend"),
]
