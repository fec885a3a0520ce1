from django.apps import AppConfig


class UploadsConfig(AppConfig):
    name = "uploads"
    verbose_name = "Studies and uploads"

    def ready(self) -> None:
        from uploads import signals  # noqa: F401  (stored files follow deleted rows)
