"""Execution order and cache keys, without a server."""

from __future__ import annotations

import copy
from pathlib import Path

from orch_sim.catalog import Catalog, load_object_info
from orch_sim.graph import ExecutionOrder, cache_keys, is_changed_values
from tests.sim.wsutil import recorded, recorded_trace, workflow

CATALOG = Catalog(load_object_info(None), Path("/nonexistent"))


def order_of(prompt: dict[str, object], outputs: list[str], cached: frozenset[str] = frozenset()) -> list[str]:
    order = ExecutionOrder(prompt, CATALOG.is_output, lambda node: node in cached)  # type: ignore[arg-type]
    for output in outputs:
        order.add(output)
    ran = []
    while order:
        node = order.next()
        assert node is not None
        ran.append(node)
        order.done(node)
    return ran


def recorded_order(run: str) -> list[str]:
    return [m["data"]["node"] for m in recorded_trace(run)
            if m.get("type") == "executing" and m["data"]["node"] is not None]


def test_the_execution_order_is_comfyuis_for_every_recorded_run() -> None:
    for run in ("basic", "mask", "loadimage_scale", "observed_by_other_client", "text_preview_any"):
        entry = next(iter(recorded(f"history_{run}.json").values()))
        assert order_of(workflow(run), entry["prompt"][4]) == recorded_order(run), run


def test_cached_upstream_nodes_are_not_scheduled() -> None:
    prompt = workflow("progress_ws_images")
    assert order_of(prompt, ["3"], cached=frozenset({"1", "2"})) == ["3"]


def test_a_changed_input_changes_its_key_and_every_key_downstream(tmp_path: Path) -> None:
    prompt = workflow("basic")
    before = cache_keys(prompt, list(prompt), is_changed_values(prompt, tmp_path))
    changed = copy.deepcopy(prompt)
    changed["2"]["inputs"]["sigma"] = 2.5
    after = cache_keys(changed, list(changed), is_changed_values(changed, tmp_path))
    assert before["1"] == after["1"]
    assert all(before[node] != after[node] for node in ("2", "3", "4"))
    assert cache_keys(prompt, list(prompt), is_changed_values(prompt, tmp_path)) == before


def test_a_websocket_save_is_never_served_from_cache(tmp_path: Path) -> None:
    prompt = workflow("progress_ws_images")
    first = cache_keys(prompt, list(prompt), is_changed_values(prompt, tmp_path))
    second = cache_keys(prompt, list(prompt), is_changed_values(prompt, tmp_path))
    assert first["2"] == second["2"] and first["3"] != second["3"]


def test_a_load_image_key_follows_the_file_content(tmp_path: Path) -> None:
    prompt = workflow("loadimage_scale")
    (tmp_path / "fx_upload.png").write_bytes(b"one")
    first = cache_keys(prompt, list(prompt), is_changed_values(prompt, tmp_path))
    (tmp_path / "fx_upload.png").write_bytes(b"two")
    second = cache_keys(prompt, list(prompt), is_changed_values(prompt, tmp_path))
    assert all(first[node] != second[node] for node in prompt)
