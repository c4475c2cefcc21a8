"""What an adapter's configuration must hold; the caller gives it, nothing here reads settings."""

from __future__ import annotations

from collections.abc import Mapping

from integrations.errors import IncompleteConfiguration


def required(config: Mapping, names: tuple[str, ...]) -> dict:
    """The named values of ``config``, refusing any that is missing or empty."""
    missing = [name for name in names if not config.get(name)]
    if missing:
        raise IncompleteConfiguration(missing)
    return {name: config[name] for name in names}
