"""Tencent Cloud SMS's answer codes, and what each means for sending the message again.

A SendSms answer says "Ok" for each number the message went to, or a code why not; an
answer with ``Response.Error`` refused the whole request. Frequency limits (LimitExceeded)
pass: the message may go after their window. The API's own rate limit, internal errors
and an expired signature leave the request untaken. Anything else is a refusal that a
retry will not change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.money import BEIJING

OK = "Ok"
REPORT_DELIVERED = "SUCCESS"
REPORT_FAILED = "FAIL"

# The API's rate limit (per second), and its internal errors (InternalError.*).
API_RATE_LIMIT = "RequestLimitExceeded"
INTERNAL_ERROR = "InternalError"
SIGNATURE_FAILURE = "AuthFailure.SignatureFailure"
# X-TC-Timestamp more than 5 minutes from the gateway's clock: the request came late, or
# the clocks differ. A retry is signed afresh.
SIGNATURE_EXPIRED = "AuthFailure.SignatureExpire"

UNTIL_TOMORROW = None  # a daily limit: the window ends at the next midnight in Beijing
# The windows of the frequency limits (频率限制), by code.
THROTTLE_WINDOWS: dict[str, timedelta | None] = {
    API_RATE_LIMIT: timedelta(seconds=1),
    "LimitExceeded.PhoneNumberThirtySecondLimit": timedelta(seconds=30),
    "LimitExceeded.PhoneNumberOneHourLimit": timedelta(hours=1),
    "LimitExceeded.DeliveryFrequencyLimit": timedelta(hours=1),
    "LimitExceeded.PhoneNumberDailyLimit": UNTIL_TOMORROW,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": UNTIL_TOMORROW,
    "LimitExceeded.DailyLimit": UNTIL_TOMORROW,
    "LimitExceeded.AppDailyLimit": UNTIL_TOMORROW,
    "LimitExceeded.AppMainlandChinaDailyLimit": UNTIL_TOMORROW,
}


def is_unavailable(code: str) -> bool:
    """The gateway failed on its side: the request may be sent again as it is."""
    return code == INTERNAL_ERROR or code.startswith(f"{INTERNAL_ERROR}.")


def retry_after(code: str, now: datetime) -> timedelta | None:
    """How long a frequency limit holds the message back; None if ``code`` is not one."""
    if code not in THROTTLE_WINDOWS:
        return None
    window = THROTTLE_WINDOWS[code]
    if window is not UNTIL_TOMORROW:
        return window
    local = now.astimezone(BEIJING)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), BEIJING)
    return midnight - local
