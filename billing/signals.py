"""What billing tells the other apps, inside the transaction of the change.

Receivers run in the sender's transaction with the order's row lock held, so whatever
they change commits or rolls back with the order. Anything that locks an order and then
another app's row must follow this order of locking: the order first.
"""

from django.dispatch import Signal

# Sent by payment_order_transition with order, previous and status.
payment_order_status_changed = Signal()
