"""What logistics does when billing tells it something."""

from django.dispatch import receiver

from billing.models import FeeKind
from billing.signals import payment_order_status_changed
from logistics.services.shipments import freight_order_changed


@receiver(payment_order_status_changed, dispatch_uid="logistics.freight_order_changed")
def _freight_order_changed(sender, *, order, status, **kwargs) -> None:
    if order.purpose == FeeKind.FREIGHT:
        freight_order_changed(order, status)
