import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.services.catalogue import CatalogueInvalid, catalogue_load


class Command(BaseCommand):
    help = (
        "Create or update departments, fee items and service items, by code, from a JSON "
        "catalogue file."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        try:
            counts = catalogue_load(data=data)
        except CatalogueInvalid as exc:
            raise CommandError("\n".join([f"{exc}:", *exc.problems])) from exc
        self.stdout.write(f"Departments: {counts.departments}.")
        self.stdout.write(f"Fee items: {counts.fee_items}.")
        self.stdout.write(f"Service items: {counts.service_items}.")
