"""Opaque public identifiers: a type prefix and 20 random base32 characters."""

import base64
import secrets


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{base64.b32encode(secrets.token_bytes(15)).decode().lower()}"


def order_id() -> str:
    return new_public_id("po")


def attempt_id() -> str:
    return new_public_id("pay")


def endpoint_id() -> str:
    return new_public_id("we")


def event_id() -> str:
    return new_public_id("evt")


def refund_id() -> str:
    return new_public_id("rf")
