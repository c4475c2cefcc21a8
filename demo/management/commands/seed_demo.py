from django.core.management.base import BaseCommand

from demo.access import demo_seed


class Command(BaseCommand):
    help = (
        "Load the demo catalogue and ensure a finance login and the demo portal client; "
        "prints the portal client's new API key as the last line."
    )

    def handle(self, *args, **options) -> None:
        access = demo_seed()
        self.stdout.write(f"Departments: {access.catalogue.departments}.")
        self.stdout.write(f"Fee items: {access.catalogue.fee_items}.")
        self.stdout.write(f"Finance staff login: {access.finance_login}")
        self.stdout.write(
            f"API key of the portal client {access.portal_client} (any earlier one is void):"
        )
        self.stdout.write(access.portal_key)
