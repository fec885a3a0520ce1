"""Routes of the admin page "Import from PACS" (included at the root by ``portal/urls.py``)."""

from django.urls import path

from pacs import views

urlpatterns = [
    path("manage/pacs/", views.imports, name="pacs-imports"),
    path("manage/pacs/start/", views.start, name="pacs-import-start"),
    path("manage/pacs/imports/<int:pk>/", views.detail, name="pacs-import"),
    path("manage/pacs/imports/<int:pk>/restart/", views.restart, name="pacs-import-restart"),
    path("manage/pacs/peers/", views.add_peer, name="pacs-peer-add"),
    path("manage/pacs/peers/<int:pk>/echo/", views.echo, name="pacs-echo"),
]
