"""Which model fields hold values sealed by ``core.pii``, and the blind indexes kept of them.

Each app declares its own in a module named ``sealed`` (``SEALED``, a tuple of
``SealedModel``), so that re-sealing every value under the active key and recomputing
every index (``manage.py reseal_personal_data``) misses none, without core importing the
apps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from django.apps import apps
from django.db.models import Model
from django.utils.module_loading import module_has_submodule

DECLARING_MODULE = "sealed"


def _whole_value(opened: str) -> str:
    return opened


@dataclass(frozen=True)
class BlindIndex:
    field: str
    purpose: str  # as given to pii.blind_index
    # From the opened value to what is indexed, when that is a part of it.
    indexed: Callable[[str], str] = _whole_value


@dataclass(frozen=True)
class SealedField:
    field: str
    column: str  # the associated data it is sealed with (pii.encrypt's ``column``)
    index: BlindIndex | None = None


@dataclass(frozen=True)
class SealedModel:
    model: type[Model]
    fields: tuple[SealedField, ...]

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def stored_fields(self) -> list[str]:
        """The model's fields a re-seal may write: each sealed field and its index."""
        return [
            name
            for sealed in self.fields
            for name in (sealed.field, *([sealed.index.field] if sealed.index else []))
        ]


def declared() -> list[SealedModel]:
    """Every installed app's declarations, in the order of INSTALLED_APPS."""
    found = []
    for app in apps.get_app_configs():
        if module_has_submodule(app.module, DECLARING_MODULE):
            found.extend(import_module(f"{app.name}.{DECLARING_MODULE}").SEALED)
    return found
