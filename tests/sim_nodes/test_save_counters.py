"""Save counters: one past the highest `{name}_{counter}_` already in the folder, however the files got there."""

from __future__ import annotations

import os
import time
from pathlib import Path

from orch_sim.nodes.files import note_saved, save_target


def _touch(folder: Path, name: str) -> None:
    (folder / name).write_bytes(b"")
    later = time.time_ns() + 50_000_000  # the folder's mtime moves past any coarse timestamp tick
    os.utime(folder, ns=(later, later))


def test_the_counter_follows_saves_and_files_written_by_others(tmp_path: Path) -> None:
    assert save_target(tmp_path, "shot", 8, 8).counter == 1
    target = save_target(tmp_path, "shot", 8, 8)
    names = [target.file_name(i, "png") for i in range(3)]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    note_saved(tmp_path, names)
    assert names == ["shot_00001_.png", "shot_00002_.png", "shot_00003_.png"]
    assert save_target(tmp_path, "shot", 8, 8).counter == 4
    _touch(tmp_path, "SHOT_00041_.png")  # another writer; names match without regard to case, like ComfyUI's
    assert save_target(tmp_path, "shot", 8, 8).counter == 42


def test_a_name_counts_only_for_the_prefix_it_carries(tmp_path: Path) -> None:
    _touch(tmp_path, "a_1_b_00007_.png")
    _touch(tmp_path, "a_b_notes.txt")
    assert save_target(tmp_path, "a", 8, 8).counter == 2
    assert save_target(tmp_path, "a_1_b", 8, 8).counter == 8
    assert save_target(tmp_path, "a_b", 8, 8).counter == 1
    assert save_target(tmp_path, "sub/a_1_b", 8, 8).counter == 1, "a subfolder has its own counters"
