"""Routes of share links and exports (included at the root by ``portal/urls.py``)."""

from django.urls import path

from uploads import export_views, sharing_views

urlpatterns = [
    # share links: the owner / an admin
    path("studies/<int:pk>/share/", sharing_views.share_create, name="share-create"),
    path("shares/<int:pk>/revoke/", sharing_views.share_revoke, name="share-revoke"),
    # the link holder
    path("s/<str:token>/", sharing_views.share_open, name="share-open"),
    path("shares/<int:pk>/verdict/", sharing_views.share_verdict, name="share-verdict"),
    # exports
    path("studies/<int:pk>/exports/", export_views.export_list, name="export-list"),
    path("studies/<int:pk>/exports/new/", export_views.export_create, name="export-create"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export-download"),
]
