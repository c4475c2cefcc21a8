"""Celery tasks: thin, idempotent, each loads ids and calls one service."""

from __future__ import annotations

from celery import shared_task

from logistics.services import booking, tracking, watch


@shared_task(name="logistics.tasks.book_shipment")
def book_shipment(shipment_id: int) -> None:
    booking.shipment_book(shipment_id=shipment_id)


@shared_task(name="logistics.tasks.sweep_bookings")
def sweep_bookings() -> int:
    """Book what is due: retries after errors, and bookings whose task was lost."""
    due = booking.shipments_due_for_booking()
    for shipment_id in due:
        booking.shipment_book(shipment_id=shipment_id)
    return len(due)


@shared_task(name="logistics.tasks.poll_shipment")
def poll_shipment(shipment_id: int) -> None:
    tracking.shipment_poll(shipment_id=shipment_id)


@shared_task(name="logistics.tasks.poll_routes")
def poll_routes() -> int:
    """Ask couriers for the routes that are due: no push for a while, or to confirm one."""
    due = tracking.shipments_due_for_poll()
    for shipment_id in due:
        tracking.shipment_poll(shipment_id=shipment_id)
    return len(due)


@shared_task(name="logistics.tasks.watch_time_limits")
def watch_time_limits() -> dict[str, int]:
    return watch.shipments_watch()
