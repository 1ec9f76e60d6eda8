"""What the agent has uploaded to its ComfyUI, by content hash, so an input already there is not sent again.

::

    cache = UploadCache()
    value = cache.get(sha256)            # the LoadImage value ComfyUI knows those bytes by, or None
    cache.put(sha256, "orch_up_1_9_0-img.png")
    cache.forget(sha256)                 # the file turned out to be gone
    cache.clear()                        # the server may have restarted (its socket reconnected)

One agent drives one ComfyUI, so one cache is "per server". An entry is only a hint: before a prompt uses it the
agent asks the server whether the file is still there (`HEAD /view`), and the whole cache is dropped whenever the
socket (re)connects, since a ComfyUI that restarted may have lost its input folder.
"""

from __future__ import annotations

__all__ = ["UploadCache"]


class UploadCache:
    """sha256 (hex) → the input value of the uploaded file, most recently used last, at most `limit` entries."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._values: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._values)

    def get(self, sha256: str) -> str | None:
        value = self._values.pop(sha256, None)
        if value is not None:
            self._values[sha256] = value
        return value

    def put(self, sha256: str, value: str) -> None:
        self._values.pop(sha256, None)
        self._values[sha256] = value
        while len(self._values) > self.limit:
            self._values.pop(next(iter(self._values)))

    def forget(self, sha256: str) -> None:
        self._values.pop(sha256, None)

    def clear(self) -> None:
        self._values.clear()
