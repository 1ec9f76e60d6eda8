"""Where node files live: annotated input names, output naming with counters, the path guard.

A file name given to a loader may carry a subfolder (`sub/name.png`) and an annotation naming its root
(`name.png [output]`, `[input]`, `[temp]`; `input` when absent). Saved files are named
`{name}_{counter:05}_.{ext}` in the prefix's subfolder, the counter being one past the highest already there.
Paths that would escape their root raise `ValueError` (loaders) or `Exception` with ComfyUI's text (savers).

Finding the highest counter means reading the folder, which grows by a file per preview: each folder's highest
counter per name is kept in `_COUNTERS`, read again whenever the folder's mtime is not the one it was read (or
last saved into, `note_saved`) at. A file another writer adds within the same filesystem timestamp tick as one of
our saves (a few ms) is missed until the folder changes again.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .context import SimDirs

__all__ = ["SaveTarget", "annotated_path", "note_saved", "save_target", "split_annotation"]

_ANNOTATION = re.compile(r"\s*\[(input|output|temp)\]$")
_COUNTER = re.compile(r"(?=_(\d+)_)")


@dataclass
class _Counters:
    mtime_ns: int
    highest: dict[str, int]  # lowercased name → highest counter of `{name}_{counter}_…` in the folder


_COUNTERS: dict[str, _Counters] = {}


def _index(highest: dict[str, int], entry: str) -> None:
    """Count `entry` for every name it could carry a counter for (`a_1_b_2_.png`: `a` → 1, `a_1_b` → 2)."""
    for match in _COUNTER.finditer(entry):
        name, counter = entry[: match.start()].lower(), int(match.group(1))
        if counter > highest.get(name, 0):
            highest[name] = counter


def _highest_counters(folder: Path) -> dict[str, int]:
    key = os.fspath(folder)
    mtime_ns = os.stat(key).st_mtime_ns
    known = _COUNTERS.get(key)
    if known is None or known.mtime_ns != mtime_ns:
        highest: dict[str, int] = {}
        for entry in os.listdir(key):
            _index(highest, entry)
        known = _COUNTERS[key] = _Counters(mtime_ns, highest)
    return known.highest


def note_saved(folder: Path, names: list[str]) -> None:
    """Files just written into `folder` by `save_target`'s caller: counted without reading the folder again."""
    key = os.fspath(folder)
    known = _COUNTERS.get(key)
    if known is not None:
        for name in names:
            _index(known.highest, name)
        known.mtime_ns = os.stat(key).st_mtime_ns


def split_annotation(name: str) -> tuple[str, str]:
    """`"a.png [output]"` → `("a.png", "output")`; no annotation → `(name, "input")`."""
    match = _ANNOTATION.search(name)
    if match is None:
        return name, "input"
    return name[: match.start()], match.group(1)


def _inside(root: Path, path: Path) -> bool:
    if path == root:
        return True
    root_real = os.path.realpath(root)
    return os.path.commonpath([root_real, os.path.realpath(path)]) == root_real


def annotated_path(name: str, dirs: SimDirs) -> Path:
    """The file an annotated name refers to; `ValueError` if it would leave its root directory."""
    bare, kind = split_annotation(name)
    root = {"input": dirs.input, "output": dirs.output, "temp": dirs.temp}[kind]
    if not bare or os.path.isabs(bare):
        raise ValueError(f"invalid file name {name!r}")
    path = root / bare
    if not _inside(root, path):
        raise ValueError(f"file name {name!r} leaves the {kind} directory")
    return path


@dataclass(frozen=True)
class SaveTarget:
    """Where the next files for a prefix go: `folder / f"{name}_{counter:05}_.{ext}"`, reported with `subfolder`."""

    folder: Path
    name: str
    subfolder: str
    counter: int

    def file_name(self, offset: int, extension: str, batch_number: int = 0) -> str:
        name = self.name.replace("%batch_num%", str(batch_number))
        return f"{name}_{self.counter + offset:05}_.{extension}"


def _expand(prefix: str, width: int, height: int) -> str:
    now = time.localtime()
    values = {
        "%width%": str(width),
        "%height%": str(height),
        "%year%": str(now.tm_year),
        "%month%": f"{now.tm_mon:02}",
        "%day%": f"{now.tm_mday:02}",
        "%hour%": f"{now.tm_hour:02}",
        "%minute%": f"{now.tm_min:02}",
        "%second%": f"{now.tm_sec:02}",
    }
    for key, value in values.items():
        prefix = prefix.replace(key, value)
    return prefix


def save_target(root: Path, prefix: str, width: int, height: int) -> SaveTarget:
    """Resolve a `filename_prefix` like `fx_load/scaled` under `root` and find its next free counter."""
    normalized = os.path.normpath(_expand(prefix, width, height))
    subfolder, name = os.path.dirname(normalized), os.path.basename(normalized)
    folder = root / subfolder
    if not _inside(root, folder):
        raise Exception(  # ComfyUI raises a bare Exception with this text
            "**** ERROR: Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {os.path.abspath(folder)}\n         output_dir: {root}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return SaveTarget(folder, name, subfolder, _highest_counters(folder).get(name.lower(), 0) + 1)
