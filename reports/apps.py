from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        """The study's DICOM export carries the signed report's measurements as an SR."""
        from reports.sr import study_sr_files
        from uploads.sharing import exports

        if study_sr_files not in exports.EXTRA_DICOM:
            exports.EXTRA_DICOM.append(study_sr_files)
