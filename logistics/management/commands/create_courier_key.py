from django.core.management.base import BaseCommand, CommandError

from core.errors import InvalidRequest
from core.models import ApiClient
from logistics.services.courier_events import courier_key_create


class Command(BaseCommand):
    help = (
        "Create a courier-role API key for the normalised courier push of one configured "
        "courier the service does not book with; print the key, shown this once, last."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--courier", required=True, help="A code of LOGISTICS['couriers'].")

    def handle(self, *args, name: str, courier: str, **options) -> None:
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(f"An API client named {name!r} already exists.")
        try:
            client, key = courier_key_create(name=name, courier=courier)
        except InvalidRequest as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Created courier key {client.name} for {courier}, key prefix {client.key_prefix}. "
            "Its key is shown this once, on the next line:"
        )
        self.stdout.write(key)
