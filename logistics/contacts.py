"""Senders' and recipients' personal data: encrypted at rest, masked everywhere else."""

from __future__ import annotations

import json
from dataclasses import asdict

from core import pii
from integrations.couriers.base import Address

SENDER = "shipment.sender"
RECIPIENT = "shipment.recipient"
SIGNER = "tracking_event.signer"


def seal(address: Address, *, column: str) -> str:
    return pii.encrypt(json.dumps(asdict(address), ensure_ascii=False), column=column)


def unseal(token: str, *, column: str) -> Address:
    return Address(**json.loads(pii.decrypt(token, column=column)))


def masked(address: Address) -> dict[str, str]:
    """What lists, logs and webhooks show: the district, never the street or the person."""
    return {
        "name": pii.mask_name(address.name),
        "phone": pii.mask_phone(address.phone),
        "province": address.province,
        "city": address.city,
        "district": address.district,
        "detail": "***",
        "region_code": address.region_code,
    }


def phone_index(phone: str) -> str:
    return pii.blind_index(phone, purpose="phone")


def seal_signer(signer: str) -> str:
    return pii.encrypt(signer, column=SIGNER) if signer else ""


def reveal_signer(token: str) -> str:
    return pii.decrypt(token, column=SIGNER) if token else ""
