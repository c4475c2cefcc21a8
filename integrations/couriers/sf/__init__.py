"""SF Express open platform (顺丰开放平台, 丰桥): bookings, route queries and route pushes.

The wire protocol is described in docs/sf.md; this package is the only code that knows it:
``wire`` (pure build, sign, verify, parse), ``bill`` (the freight bill), ``codes`` (the
route codes) and ``courier`` (the HTTP).
"""

from integrations.couriers.sf.courier import SfExpressCourier

__all__ = ["SfExpressCourier"]
