"""A sandbox of Tencent Cloud SMS (API 3.0, SendSms 2021-01-11): the gateway's side.

    tc3     checking a request's TC3-HMAC-SHA256 signature, as the API does
    wire    the API's answers and error codes, and the callbacks it posts
    views   the API, the sent-message journal, status reports and replies, and controls

Written from Tencent's documents, sharing nothing with the adapter (docs/sms.md).
"""
