"""Notices to applicants by SMS through Tencent Cloud SMS (API 3.0, SendSms 2021-01-11).

    base        the contract: request, result and callback dataclasses, the Protocol, errors
    tc3         the TC3-HMAC-SHA256 request signature (签名方法 v3)
    codes       the gateway's answer codes, and what each means for a retry
    wire        the SendSms request and answer, the status-report and reply callbacks
    gateway     TencentSmsGateway (the HTTP call) and build_sms_gateway(config)

The protocol, and what is assumed where Tencent's documents say little, is in docs/sms.md.
"""
