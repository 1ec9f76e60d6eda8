"""A cache of each server's whole ``GET /object_info``, keyed by server URL and checked by content hash.

``/object_info`` can be megabytes and take seconds with many custom nodes, and everything downstream
(workflow conversion, capability checks) derives data from it. A re-fetch whose body hashes the same
returns the very same parsed dict, so callers can compare by identity (``is``) or by :meth:`hash` and
skip re-deriving. The parsed dict is shared: treat it as read-only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ObjectInfoCache", "object_info_hash"]


def object_info_hash(body: bytes) -> str:
    """The sha256 hex digest of a raw ``/object_info`` body."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class _Entry:
    digest: str
    parsed: dict[str, Any]


class ObjectInfoCache:
    """Parsed ``/object_info`` bodies per server URL, re-parsed only when the body changes."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    @staticmethod
    def _key(url: str) -> str:
        return url.rstrip("/")

    def store(self, url: str, body: bytes) -> dict[str, Any]:
        """Record a freshly fetched body for ``url`` and return its parsed dict.

        If the body hashes like the one already held, the held dict is returned (no re-parse).
        Raises ``ValueError`` if the body is not a JSON object.
        """
        key = self._key(url)
        digest = object_info_hash(body)
        held = self._entries.get(key)
        if held is not None and held.digest == digest:
            return held.parsed
        parsed = json.loads(body)
        if not isinstance(parsed, dict):
            raise ValueError(f"object_info of {key} is a JSON {type(parsed).__name__}, not an object")
        self._entries[key] = _Entry(digest, parsed)
        return parsed

    def get(self, url: str) -> dict[str, Any] | None:
        """The last parsed ``/object_info`` of ``url``, or None if never fetched."""
        entry = self._entries.get(self._key(url))
        return entry.parsed if entry is not None else None

    def hash(self, url: str) -> str | None:
        """The sha256 of the last ``/object_info`` body of ``url``, or None if never fetched."""
        entry = self._entries.get(self._key(url))
        return entry.digest if entry is not None else None

    def forget(self, url: str) -> None:
        """Drop what is held for ``url`` (e.g. the server was reinstalled)."""
        self._entries.pop(self._key(url), None)
