"""The delivery log keeps coarse error codes only: earlier rows held exception texts, which
could carry another service's banner, so they become the code for a failed connection."""

from django.db import migrations

KEPT = ("", "endpoint disabled", "timeout", "connection_failed", "tls_failed", "refused_target")


def scrub(apps, schema_editor):
    for model in ("WebhookDelivery", "WebhookDeliveryAttempt"):
        field = "last_error" if model == "WebhookDelivery" else "error"
        apps.get_model("billing", model).objects.exclude(**{f"{field}__in": KEPT}).update(
            **{field: "connection_failed"}
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0013_rejected_notification_digest")]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop)]
