"""A sandbox's records, kept in memory and journalled to disk, so a restart forgets nothing.

Each ``Store`` is a mapping from a key (an out-trade number, a waybill) to a record. Every
change appends one JSON line to ``<SANDBOX_STATE_DIR>/<name>.jsonl``; the first access in
a process replays the journal, and a reset empties it. Records are kept as the sandbox's
own objects in memory; ``encode`` and ``decode`` turn one into plain JSON and back. A record
changed in place is journalled by storing it again (``store[key] = record``).

Without SANDBOX_STATE_DIR (the tests' live servers) the stores live in memory only.
``reload_all`` makes every store read its journal again, as a restarted process would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.conf import settings

Record = TypeVar("Record")

_stores: list[Store[Any]] = []


def _same(value: Any) -> Any:
    return value


def _state_dir() -> str | Path | None:
    return getattr(settings, "SANDBOX_STATE_DIR", None)


def journalled() -> bool:
    """Whether the stores keep journals, and so outlive the process."""
    return bool(_state_dir())


class Store(MutableMapping[str, Record], Generic[Record]):
    def __init__(
        self,
        name: str,
        *,
        encode: Callable[[Record], Any] = _same,
        decode: Callable[[Any], Record] = _same,
    ) -> None:
        self.name = name
        self._encode, self._decode = encode, decode
        self._records: dict[str, Record] = {}
        self._loaded = False
        # Reentrant: a sandbox may hold it across a read-modify-store of one record.
        self.lock = threading.RLock()
        _stores.append(self)

    def _journal(self) -> Path | None:
        directory = _state_dir()
        return Path(directory) / f"{self.name}.jsonl" if directory else None

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self.lock:
            if self._loaded:
                return
            journal = self._journal()
            if journal is not None and journal.exists():
                for line in journal.read_text(encoding="utf-8").splitlines():
                    entry = json.loads(line)
                    if entry.get("deleted"):
                        self._records.pop(entry["key"], None)
                    else:
                        self._records[entry["key"]] = self._decode(entry["record"])
            self._loaded = True

    def _append(self, entry: dict[str, Any]) -> None:
        journal = self._journal()
        if journal is None:
            return
        journal.parent.mkdir(parents=True, exist_ok=True)
        with journal.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")

    def __getitem__(self, key: str) -> Record:
        self._ensure_loaded()
        return self._records[key]

    def __setitem__(self, key: str, record: Record) -> None:
        self._ensure_loaded()
        with self.lock:
            self._records[key] = record
            self._append({"key": key, "record": self._encode(record)})

    def __delitem__(self, key: str) -> None:
        self._ensure_loaded()
        with self.lock:
            del self._records[key]
            self._append({"key": key, "deleted": True})

    def __iter__(self) -> Iterator[str]:
        self._ensure_loaded()
        return iter(list(self._records))

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._records)

    def reload(self) -> None:
        """Forget the records held in memory; the next access replays the journal."""
        with self.lock:
            self._records.clear()
            self._loaded = False

    def reset(self) -> None:
        with self.lock:
            self._records.clear()
            self._loaded = True
            journal = self._journal()
            if journal is not None:
                journal.unlink(missing_ok=True)


def reset_all() -> None:
    """Every sandbox forgets everything: the tests' clean slate."""
    for store in _stores:
        store.reset()


def reload_all() -> None:
    """Every sandbox forgets what it holds in memory and reads its journal again: what a
    restart of their process does, short of the process."""
    for store in _stores:
        store.reload()
