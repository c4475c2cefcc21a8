from django.apps import AppConfig


class LogisticsConfig(AppConfig):
    name = "logistics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.events import PAYMENT_ORDER_STATUS_CHANGED
        from billing.models import FeeKind
        from logistics.services.shipments import freight_order_changed
        from logistics.services.tracking import COURIER_PUSHES
        from outbox.events import subscribe
        from outbox.kinds import register

        register(COURIER_PUSHES)
        subscribe(
            PAYMENT_ORDER_STATUS_CHANGED,
            name="logistics.freight_order_changed",
            handle=freight_order_changed,
            wants=lambda event: event["purpose"] == FeeKind.FREIGHT,
        )
