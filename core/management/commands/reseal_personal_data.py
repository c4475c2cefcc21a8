"""Re-seal every stored personal value under PII_ACTIVE_KEY_ID and recompute every blind
index with the first of PII_HASH_ALGORITHMS, while the service runs (docs/deploy.md)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.pii_fields import declared
from core.pii_reseal import reseal_model

SHOWN_UNREADABLE = 20


class Command(BaseCommand):
    help = (
        "Re-seal personal data under PII_ACTIVE_KEY_ID and recompute blind indexes with the "
        "first of PII_HASH_ALGORITHMS, in batches, each in a transaction of its own. Safe "
        "while the service runs; run it again to finish a run that stopped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch", type=int, default=200, help="Rows per transaction.")

    def handle(self, *args, batch: int, **options) -> None:
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        key_id = settings.PII_ACTIVE_KEY_ID
        self.stdout.write(
            f"Sealing under key {key_id} ({settings.PII_KEYS[key_id][0]}), "
            f"blind indexes with {settings.PII_HASH_ALGORITHMS[0]}."
        )
        resealed, unreadable, busy = 0, [], 0
        for sealed in declared():
            for progress in reseal_model(sealed, batch_size=batch):
                waiting = f", {len(progress.busy)} locked by others" if progress.busy else ""
                self.stdout.write(
                    f"{progress.label}: {progress.checked} checked, {progress.resealed} "
                    f"re-sealed, up to id {progress.last_id}{waiting}"
                )
            resealed += progress.resealed
            unreadable += progress.unreadable
            busy += len(progress.busy)
        for line in unreadable[:SHOWN_UNREADABLE]:
            self.stderr.write(line)
        if unreadable or busy:
            raise CommandError(
                f"{resealed} rows re-sealed, but values that did not open: {len(unreadable)}, "
                f"rows other transactions kept locked: {busy}. Run again once they are dealt with."
            )
        self.stdout.write(f"Done: {resealed} rows re-sealed; every value is current.")
