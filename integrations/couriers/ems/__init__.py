"""China Post EMS (中国邮政速递物流, 新一代寄递平台): bookings, tracks and track pushes.

The wire protocol is described in docs/ems.md; this package is the only code that knows
it: ``wire`` (pure build, sign, verify, parse), ``bill``, ``codes`` and ``courier`` (the
HTTP).
"""

from integrations.couriers.ems.courier import EmsCourier

__all__ = ["EmsCourier"]
