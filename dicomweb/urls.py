"""``/dicomweb/`` (PS3.18 resources). UIDs are matched as any path segment and validated
in the views (a bad one answers 400 with a message)."""

from django.urls import path

from dicomweb import views

S = "studies/<str:study>"
SE = S + "/series/<str:series>"
I = SE + "/instances/<str:sop>"  # noqa: E741

urlpatterns = [
    path("studies", views.studies, name="dicomweb-studies"),
    path("series", views.all_series, name="dicomweb-all-series"),
    path("instances", views.all_instances, name="dicomweb-all-instances"),
    path(S, views.study, name="dicomweb-study"),
    path(S + "/metadata", views.study_metadata, name="dicomweb-study-metadata"),
    path(S + "/series", views.study_series, name="dicomweb-study-series"),
    path(S + "/instances", views.study_instances, name="dicomweb-study-instances"),
    path(SE, views.series, name="dicomweb-series"),
    path(SE + "/metadata", views.series_metadata, name="dicomweb-series-metadata"),
    path(SE + "/instances", views.series_instances, name="dicomweb-series-instances"),
    path(I, views.instance, name="dicomweb-instance"),
    path(I + "/metadata", views.instance_metadata, name="dicomweb-instance-metadata"),
    path(I + "/rendered", views.rendered, name="dicomweb-rendered"),
    path(I + "/frames/<str:frames>", views.frames, name="dicomweb-frames"),
    path(I + "/frames/<str:frames>/rendered", views.frame_rendered, name="dicomweb-frame-rendered"),
]
