from django.apps import AppConfig


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = "Notices to applicants"

    def ready(self) -> None:
        from notices.sending import SMS_MESSAGES
        from outbox.kinds import register

        register(SMS_MESSAGES)
