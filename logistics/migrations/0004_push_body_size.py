from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("logistics", "0003_translatable_choice_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="courierpush",
            name="body_size",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
