"""Routes of share links and exports (included at the root by ``portal/urls.py``)."""

from django.urls import path

from uploads.sharing import export_views
from uploads.sharing import views as share_views

urlpatterns = [
    # share links: the owner / an admin
    path("studies/<int:pk>/share/", share_views.share_create, name="share-create"),
    path("shares/<int:pk>/revoke/", share_views.share_revoke, name="share-revoke"),
    # the link holder
    path("s/<str:token>/", share_views.share_open, name="share-open"),
    path("shares/<int:pk>/verdict/", share_views.share_verdict, name="share-verdict"),
    # exports
    path("studies/<int:pk>/exports/", export_views.export_list, name="export-list"),
    path("studies/<int:pk>/exports/new/", export_views.export_create, name="export-create"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export-download"),
]
