from django.apps import AppConfig


class DicomwebConfig(AppConfig):
    name = "dicomweb"
    label = "dicomweb"
    verbose_name = "DICOMweb"
