from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.auth import api_client_revoke
from core.models import ApiClient


class Command(BaseCommand):
    help = "Revoke a machine client's API key; its past requests stay attributed to it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")

    def handle(self, *args, name: str, **options) -> None:
        client = ApiClient.objects.filter(name=name).first()
        if client is None:
            raise CommandError(f"No API client named {name!r}.")
        if not client.is_active:
            revoked_at = f"{timezone.localtime(client.revoked_at):%Y-%m-%d %H:%M}"
            self.stdout.write(f"API client {name} was already revoked, at {revoked_at}.")
            return
        api_client_revoke(client=client)
        self.stdout.write(f"Revoked API client {name} (key prefix {client.key_prefix}).")
