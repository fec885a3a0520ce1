"""Routes of the slice viewer: its page and the JSON/PNG it loads."""

from django.urls import path

from uploads.viewer import measure, views

urlpatterns = [
    path("studies/<int:pk>/viewer/", views.viewer_page, name="viewer"),
    path("api/studies/<int:pk>/manifest/", views.manifest, name="api-study-manifest"),
    path("api/instances/<int:pk>/slice.png", views.slice_image, name="api-instance-slice"),
    path("api/instances/<int:pk>/attributes/", views.attributes, name="api-instance-attributes"),
    path("api/instances/<int:pk>/roi/", measure.roi_json, name="api-instance-roi"),
    path("api/instances/<int:pk>/probe/", measure.probe_json, name="api-instance-probe"),
    path("api/viewer/mouse/", measure.mouse_preference, name="api-viewer-mouse"),
    path("api/instances/<int:pk>/geometry/", measure.geometry_json, name="api-instance-geometry"),
    path("api/instances/<int:pk>/rt/", views.rt_overlay_json, name="api-instance-rt"),
]
