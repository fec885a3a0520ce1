from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from portal import checks  # noqa: F401  (the project's system checks register)
        from portal.accounts import session_records

        session_records.connect()
