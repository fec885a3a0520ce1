"""Routes of the study pages (the uploader's list and detail, the upload page).

The parts have their own: ``uploads/intake/urls.py``, ``uploads/viewer/urls.py``,
``uploads/sharing/urls.py``; ``portal/urls.py`` includes them all at the root.
"""

from django.urls import path

from uploads import views

urlpatterns = [
    path("studies/", views.study_list, name="studies"),
    path("studies/<int:pk>/", views.study_detail, name="study"),
    path("upload/", views.upload_page, name="upload"),
]
