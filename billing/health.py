"""A circuit breaker per channel, shared by every web and worker process through the database.

Closed: the channel is in rotation. After FAILURE_THRESHOLD consecutive failures (timeouts,
unreachable, 5xx) it opens for COOL_OFF: the router skips it. When the cool-off has passed
the router offers it again (``channel_in_rotation`` only reads), and the first caller about
to call it takes it half-open (``channel_take_call``) and makes one trial call; its outcome
closes the breaker again or re-opens it. A trial whose caller vanished is given up after
COOL_OFF.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from billing.models import ChannelHealth
from core.audit import audit_record

FAILURE_THRESHOLD = 3
COOL_OFF = timedelta(seconds=60)
State = ChannelHealth.State


def _locked(channel: str) -> ChannelHealth:
    health, _ = ChannelHealth.objects.select_for_update().get_or_create(channel=channel)
    return health


def _move(
    health: ChannelHealth, to: str, *, open_until: datetime | None = None, why: str = ""
) -> None:
    previous = health.state
    health.state = to
    health.open_until = open_until
    health.save()
    if previous != to:
        audit_record(
            actor="system",
            action=f"channel_health.{to}",
            obj=health,
            from_status=previous,
            to_status=to,
            reason=why,
        )


def channel_in_rotation(channel: str, *, now: datetime | None = None) -> bool:
    """May the router offer this channel? Reads only: a due trial is taken by the caller."""
    return channel in channels_in_rotation([channel], now=now)


def channels_in_rotation(channels: list[str], *, now: datetime | None = None) -> set[str]:
    """Which of these channels the router may offer, in one read (see ``channel_in_rotation``)."""
    now = now or timezone.now()
    health = {h.channel: h for h in ChannelHealth.objects.filter(channel__in=channels)}
    return {channel for channel in channels if _may_call(health.get(channel), now)}


def _may_call(health: ChannelHealth | None, now: datetime) -> bool:
    if health is None or health.state == State.CLOSED:
        return True
    return not (health.open_until and health.open_until > now)


def channel_take_call(channel: str, *, now: datetime | None = None) -> bool:
    """May this caller call the channel now? Takes the half-open trial when one is due."""
    now = now or timezone.now()
    health = ChannelHealth.objects.filter(channel=channel).first()
    if health is None or health.state == State.CLOSED:
        return True  # in rotation: there is no trial to take
    if not _may_call(health, now):
        return False
    with transaction.atomic():
        health = _locked(channel)
        if health.state == State.CLOSED:
            return True
        if not _may_call(health, now):
            return False
        _move(
            health, State.HALF_OPEN, open_until=now + COOL_OFF, why="cool-off over: one trial call"
        )
        return True


def channel_succeeded(channel: str) -> None:
    # Closed with no failure counted, as nearly always: nothing to record, no lock taken. A
    # failure counted after this read is ordered after this success, as it could be locked.
    if ChannelHealth.objects.filter(
        channel=channel, state=State.CLOSED, consecutive_failures=0
    ).exists():
        return
    with transaction.atomic():
        health = _locked(channel)
        health.consecutive_failures = 0
        if health.state != State.CLOSED:
            _move(health, State.CLOSED, why="a call succeeded")
        else:
            health.save(update_fields=["consecutive_failures", "updated_at"])


def channel_failed(channel: str, *, now: datetime | None = None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        health = _locked(channel)
        health.consecutive_failures += 1
        trial_failed = health.state == State.HALF_OPEN
        if trial_failed or health.consecutive_failures >= FAILURE_THRESHOLD:
            why = (
                "the trial call failed"
                if trial_failed
                else f"{health.consecutive_failures} failures"
            )
            _move(health, State.OPEN, open_until=now + COOL_OFF, why=why)
        else:
            health.save(update_fields=["consecutive_failures", "updated_at"])
