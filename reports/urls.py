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
    # the uploader's request
    path("studies/<int:pk>/request/", request.request_edit, name="study-request"),
    path("studies/<int:pk>/cancel/", request.request_cancel, name="study-cancel"),
    # a review request (case): its studies and the patient's priors
    path("requests/<int:pk>/", cases.review_request, name="review-request"),
    # radiologists
    path("worklist/", worklist.worklist, name="worklist"),
    path("studies/<int:pk>/claim/", worklist.claim, name="study-claim"),
    path("studies/<int:pk>/report/", editor.editor, name="report-editor"),
    path("studies/<int:pk>/read/", reading.reading, name="reading"),
    path(
        "studies/<int:pk>/report/annotations/",
        reading.report_annotations,
        name="report-annotations",
    ),
    path("studies/<int:pk>/report/autosave/", editor.autosave, name="report-autosave"),
    path("studies/<int:pk>/report/key-images/", editor.add_key_image, name="report-key-image"),
    path("studies/<int:pk>/report/sign/", editor.sign, name="report-sign"),
    path("studies/<int:pk>/report/addendum/", editor.addendum, name="report-addendum"),
    path("studies/<int:pk>/report/preview/", editor.preview, name="report-preview"),
    # readers
    path("studies/<int:pk>/report/view/", output.report_view, name="report-view"),
    path("studies/<int:pk>/report/pdf/", output.report_pdf, name="report-pdf"),
    path(
        "studies/<int:pk>/report/key-images/<int:index>.png",
        output.report_key_image,
        name="report-key-image-png",
    ),
    path("notifications/", notifications.notifications, name="notifications"),
    path("notifications/<int:pk>/read/", notifications.notification_read, name="notification-read"),
    # admins
    path("manage/", manage.manage, name="manage"),
    path("manage/studies/<int:pk>/assign/", manage.assign_study, name="assign-study"),
    path("manage/deliveries/", deliveries.deliveries, name="deliveries"),
    path("manage/deliveries/<int:pk>/resend/", deliveries.resend, name="delivery-resend"),
]
