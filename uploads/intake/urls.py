"""Routes of intake: the browser's upload API, the de-identification profile it runs, and
the admins' Uploads pages."""

from django.urls import path

from uploads.intake import admin_views, api, deid_api, pixel_review, text_preview

urlpatterns = [
    # the browser's upload API
    path("api/uploads/config/", api.config, name="api-upload-config"),
    path("api/deid/profile/", deid_api.profile, name="api-deid-profile"),
    path("api/uploads/open/", api.open_upload, name="api-upload-open"),
    path("api/uploads/", api.create, name="api-upload-create"),
    path("api/uploads/text-boxes/", text_preview.text_boxes, name="api-text-boxes"),
    path("api/uploads/<int:upload_id>/", api.status, name="api-upload-status"),
    path("api/uploads/<int:upload_id>/files/", api.register, name="api-upload-register"),
    path("api/uploads/<int:upload_id>/files/<str:key>", api.put_chunk, name="api-upload-chunk"),
    path("api/uploads/<int:upload_id>/batch/", api.put_batch, name="api-upload-batch"),
    path("api/uploads/<int:upload_id>/finish/", api.finish, name="api-upload-finish"),
    path("api/uploads/<int:upload_id>/cancel/", api.cancel, name="api-upload-cancel"),
    # admins
    path("manage/uploads/", admin_views.upload_list, name="admin-uploads"),
    path("manage/uploads/<int:pk>/", admin_views.upload_detail, name="admin-upload"),
    path("manage/uploads/<int:pk>/retry/", admin_views.upload_retry, name="admin-upload-retry"),
    path("manage/uploads/<int:pk>/cancel/", admin_views.upload_cancel, name="admin-upload-cancel"),
    path("manage/uploads/<int:pk>/close/", admin_views.upload_close, name="admin-upload-close"),
    # admins: images held for burned-in text (docs/burned-in-text.md)
    path("manage/pixels/", pixel_review.held_list, name="pixel-review"),
    path("manage/pixels/<int:pk>/image.png", pixel_review.held_image, name="pixel-review-image"),
    path("manage/pixels/<int:pk>/confirm/", pixel_review.held_confirm, name="pixel-review-confirm"),
    path("manage/pixels/<int:pk>/reject/", pixel_review.held_reject, name="pixel-review-reject"),
]
