from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0012_refund_retries"),
    ]

    operations = [
        migrations.AddField(
            model_name="paymentnotification",
            name="body_size",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="paymentnotification",
            name="body_sha256",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
