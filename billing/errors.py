from core.errors import DomainError


class ChannelUnavailable(DomainError):
    """The channel could not be reached; the outcome is settled later by a status query."""

    status = 503
    code = "channel_unavailable"


class ChannelDeclined(DomainError):
    status = 422
    code = "channel_declined"


class ChannelNotAccepted(DomainError):
    status = 422
    code = "channel_not_accepted"


class RefundNotAllowed(DomainError):
    status = 422
    code = "refund_not_allowed"
