"""Routes of the slice viewer: its page and the JSON/PNG it loads."""

from django.urls import path

from uploads.viewer import measure, mpr_views, views

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
    # layouts, priors and multiplanar reformat (mpr_views.py)
    path("studies/<int:pk>/layout/", mpr_views.layout_page, name="viewer-layout"),
    path("api/studies/<int:pk>/priors/", mpr_views.priors, name="api-study-priors"),
    path("api/series/<int:pk>/geometry/", mpr_views.geometry, name="api-series-geometry"),
    path("api/series/<int:pk>/mpr/", mpr_views.mpr_info, name="api-series-mpr"),
    path(
        "api/series/<int:pk>/mpr/<str:plane>.png", mpr_views.mpr_plane, name="api-series-mpr-plane"
    ),
]
