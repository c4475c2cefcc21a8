from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Finance console"

    def ready(self) -> None:
        from console import sign_in  # noqa: F401 (connects the sign-in audit receivers)
