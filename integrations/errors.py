"""The errors of every outside party: payment channels, couriers, banks, revenue systems.

A call to a party, or a message from one, fails with a ProviderError::

    ProviderError                 the answer cannot be used (malformed, unexpected status)
    ├── ProviderUnavailable       no answer, a timeout or a 5xx: the outcome is unknown
    │   └── banks.base.StatementNotReady   the bank has no statement for the date yet
    ├── ProviderDeclined          the party understood the request and refused it
    │   └── NoStatement           it has no file for the date (a day without trades)
    └── InvalidInbound            an inbound message failed verification
        ├── InvalidNotification   a payment channel's notification
        └── InvalidPush           a courier's push

ProviderUnavailable (StatementNotReady included) is the only retryable one: the call
may have taken effect, so callers settle it with a query or send it again under the
same idempotency key.

A file read from a party (a bill, a bank statement, a record file) that cannot be read
raises StatementInvalid, naming its line. It is not a ProviderError: finance staff upload
such files too, and callers that get a ProviderError from a parser report it as a
StatementInvalid of the whole file.

An adapter that cannot be built from the configuration its caller gives raises a
ConfigurationError: an unknown channel, courier or bank code, a required value that is
missing, a bank's CSV layout that cannot be read. These are programming or deployment
mistakes, never retried.
"""

from __future__ import annotations


class ProviderError(Exception):
    """The party answered something we cannot use (bad signature, malformed body, status).

    ``http_status`` is the status of the answer, when there was one and it matters.
    """

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class ProviderUnavailable(ProviderError):
    """The party could not be reached, timed out or is down: the only retryable error.

    The outcome of the call is unknown; callers resolve it with a status query, or send
    it again where the party dedupes.
    """


class ProviderDeclined(ProviderError):
    """The party understood the request and refused it; ``code`` is the party's own."""

    def __init__(self, message: str, *, code: str = "", http_status: int | None = None) -> None:
        super().__init__(message, http_status=http_status)
        self.code = code


class NoStatement(ProviderDeclined):
    """The party has no file for the date: what a processor answers for a day without
    trades (WeChat Pay's NO_STATEMENT_EXIST, UnionPay's 98). It may answer so for a day
    whose file it has not made yet: the caller tells the two apart by the time."""


class InvalidInbound(ProviderError):
    """An inbound message failed verification: forged, tampered or malformed."""


class InvalidNotification(InvalidInbound):
    """A payment channel's notification failed verification."""


class InvalidPush(InvalidInbound):
    """A courier's push failed verification."""


class StatementInvalid(ValueError):
    """A file that cannot be read: the line (1-based; 0 for the whole file) and why."""

    def __init__(self, line: int, problem: str) -> None:
        self.line = line
        self.problem = problem
        where = f"line {line}" if line else "the file"
        super().__init__(f"{where}: {problem}")


class ConfigurationError(ValueError):
    """An adapter cannot be built from the configuration given."""


class UnknownChannel(ConfigurationError):
    pass


class UnknownCourier(ConfigurationError):
    pass


class UnknownBank(ConfigurationError):
    pass


class IncompleteConfiguration(ConfigurationError):
    """A configuration lacks values it needs; ``missing`` names them."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"lacks {', '.join(missing)}")
        self.missing = missing


class BadCsvLayout(ConfigurationError):
    """A bank's own CSV layout cannot be read; ``bank`` names it."""

    def __init__(self, bank: str, reason: str) -> None:
        super().__init__(reason)
        self.bank = bank
