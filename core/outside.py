"""The outside parties' adapters, configured from this deployment's settings.

``integrations/`` never reads Django settings: its registries build an adapter from the
configuration they are given. This is where the settings are read, and where a missing
value becomes Django's ImproperlyConfigured, named by its setting.
"""

from __future__ import annotations

import pandas as pd
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations.banks import registry as banks
from integrations.banks.base import BankStatements
from integrations.configuration import IncompleteConfiguration
from integrations.couriers.base import Courier
from integrations.couriers.registry import build_courier
from integrations.payments.base import PaymentChannel
from integrations.payments.registry import build_channel
from integrations.receipts.base import ReceiptPlatform
from integrations.receipts.platform import build_receipt_platform
from integrations.sms.base import SmsGateway
from integrations.sms.gateway import build_sms_gateway

CHANNEL_SETTINGS = {
    "public_platform": "PUBLIC_PLATFORM",
    "alipay": "ALIPAY",
    "wechatpay": "WECHATPAY",
    "unionpay": "UNIONPAY",
}
COURIER_SETTINGS = {"sf": "SF_EXPRESS", "ems": "EMS"}


# Channels built in this process, by code, with the configuration each was built from.
_built_channels: dict[str, tuple[dict, PaymentChannel]] = {}


def get_channel(code: str) -> PaymentChannel:
    """The channel as configured now. It is built once per process and configuration:
    building loads and checks its keys, and it keeps its HTTP connections between calls."""
    setting = CHANNEL_SETTINGS.get(code, code.upper())
    config = dict(getattr(settings, setting, {}))
    built = _built_channels.get(code)
    if built is not None and built[0] == config:
        return built[1]
    try:
        channel = build_channel(code, config)
    except IncompleteConfiguration as missing:
        raise ImproperlyConfigured(f"{setting} {missing}") from missing
    _built_channels[code] = (config, channel)
    return channel


# The receipt platform built in this process, with the configuration it was built from.
_built_receipt_platform: list[tuple[dict, ReceiptPlatform]] = []


def get_receipt_platform() -> ReceiptPlatform:
    """The fiscal receipt platform as configured now, built once per process and
    configuration, as ``get_channel``: building loads the published keys."""
    config = dict(getattr(settings, "RECEIPTS", {}))
    if _built_receipt_platform and _built_receipt_platform[0][0] == config:
        return _built_receipt_platform[0][1]
    try:
        platform = build_receipt_platform(config)
    except IncompleteConfiguration as missing:
        raise ImproperlyConfigured(f"RECEIPTS {missing}") from missing
    _built_receipt_platform[:] = [(config, platform)]
    return platform


# The SMS gateway built in this process, with the configuration it was built from.
_built_sms_gateway: list[tuple[dict, SmsGateway]] = []


def get_sms_gateway() -> SmsGateway:
    """The SMS gateway as configured now, built once per process and configuration, as
    ``get_receipt_platform``: it keeps its HTTP connections between messages."""
    config = dict(getattr(settings, "SMS", {}))
    if _built_sms_gateway and _built_sms_gateway[0][0] == config:
        return _built_sms_gateway[0][1]
    try:
        gateway = build_sms_gateway(config)
    except IncompleteConfiguration as missing:
        raise ImproperlyConfigured(f"SMS {missing}") from missing
    _built_sms_gateway[:] = [(config, gateway)]
    return gateway


def get_courier(code: str) -> Courier:
    setting = COURIER_SETTINGS.get(code, code.upper())
    try:
        return build_courier(code, getattr(settings, setting, {}))
    except IncompleteConfiguration as missing:
        raise ImproperlyConfigured(f"{setting} {missing}") from missing


def bank_codes() -> tuple[str, ...]:
    return tuple(settings.BANKS)


def bank_format(code: str) -> str:
    """The format name of the statements the bank sends."""
    return _bank(banks.bank_config, code)["format"]


def get_bank(code: str) -> BankStatements:
    return _bank(banks.build_bank, code)


def csv_layouts() -> dict:
    return _bank_layouts(banks.csv_layouts)


def parse_bank_statement(content: bytes, fmt: str) -> pd.DataFrame:
    return _bank_layouts(lambda configured: banks.parse_bank_statement(content, fmt, configured))


def _bank(build, code: str):
    try:
        return build(settings.BANKS, code)
    except IncompleteConfiguration as missing:
        raise ImproperlyConfigured(f"BANKS[{code!r}] {missing}") from missing


def _bank_layouts(read):
    try:
        return read(settings.BANKS)
    except banks.BadCsvLayout as bad:
        raise ImproperlyConfigured(f"BANKS[{bad.bank!r}]['csv_layout']: {bad}") from bad
