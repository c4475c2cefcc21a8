"""The public payment platform is a channel every deployment has; it needs no licence."""

from django.db import migrations

PUBLIC_PLATFORM_MAX_FEN = 100_000_000_000


def register(apps, schema_editor):
    Processor = apps.get_model("billing", "Processor")
    Processor.objects.get_or_create(
        code="public_platform",
        defaults={
            "legal_name": "统一公共支付平台",
            "licensed": False,
            "max_amount": PUBLIC_PLATFORM_MAX_FEN,
            "priority": 10,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_processors_refunds_routing")]

    operations = [migrations.RunPython(register, migrations.RunPython.noop)]
