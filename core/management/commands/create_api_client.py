from django.core.management.base import BaseCommand, CommandError

from core.auth import api_client_create
from core.models import ApiClient, ApiRole


class Command(BaseCommand):
    help = "Create a machine client and print its API key, shown this once, as the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", required=True, choices=ApiRole.values)

    def handle(self, *args, name: str, role: str, **options) -> None:
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(f"An API client named {name!r} already exists.")
        client, key = api_client_create(name=name, role=role)
        self.stdout.write(
            f"Created API client {client.name} ({client.role}), key prefix {client.key_prefix}. "
            "Its key is shown this once, on the next line:"
        )
        self.stdout.write(key)
