"""The object_info index: widget order, hidden companion widgets, caching."""

from __future__ import annotations

import json

import pytest

from orch_common.workflow import ObjectInfoError, ObjectInfoIndex, index_for
from tests.workflow.conftest import OBJECT_INFO_BYTES


def test_widgets_follow_input_order_with_their_hidden_companions(index):
    ks = index["KSampler"]
    assert [w.name for w in ks.widget_inputs] == ["seed", "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    assert [(s.name, s.in_api) for s in ks.widget_slots][:3] == [
        ("seed", True),
        ("control_after_generate", False),
        ("steps", True),
    ]
    assert [i.name for i in ks.link_inputs] == ["model", "positive", "negative", "latent_image"]
    seed = ks.input("seed")
    assert seed.control_after_generate and seed.max == 2**64 - 1


def test_an_image_upload_input_gets_a_trailing_upload_widget(index):
    assert [(s.name, s.in_api) for s in index["LoadImageMask"].widget_slots] == [
        ("image", True),
        ("channel", True),
        ("upload", False),
    ]
    assert index["LoadImage"].input("image").image_upload


def test_force_inputs_are_link_inputs(index):
    steps = index["SaveLoRANode"].input("steps")
    assert steps.force_input and steps in index["SaveLoRANode"].link_inputs


def test_v3_combo_options_are_choices(index):
    assert index["SaveVideo"].input("format").choices == ("auto", "mp4")


def test_input_order_wins_over_object_order():
    data = {
        "X": {
            "input": {"required": {"b": ["INT", {}], "a": ["STRING", {}]}},
            "input_order": {"required": ["a", "b"]},
            "output": [],
        }
    }
    assert [w.name for w in ObjectInfoIndex.from_dict(data)["X"].widget_inputs] == ["a", "b"]


def test_classes_are_indexed_lazily_and_missing_ones_are_none(index):
    fresh = ObjectInfoIndex.from_bytes(OBJECT_INFO_BYTES)
    assert len(fresh) == 478 and "KSampler" in fresh
    assert fresh.get_class("NoSuchNode") is None
    with pytest.raises(KeyError):
        fresh["NoSuchNode"]


def test_index_for_builds_once_per_body():
    assert index_for(OBJECT_INFO_BYTES) is index_for(OBJECT_INFO_BYTES)
    other = json.dumps({"A": {"input": {}, "output": []}}).encode()
    assert index_for(other) is not index_for(OBJECT_INFO_BYTES)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"x"'])
def test_a_malformed_body_is_an_object_info_error(raw):
    with pytest.raises(ObjectInfoError):
        ObjectInfoIndex.from_bytes(raw)


def test_a_malformed_class_names_the_class():
    with pytest.raises(ObjectInfoError, match="Bad"):
        ObjectInfoIndex.from_dict({"Bad": {"input": {"required": []}}})["Bad"]


def test_without_input_order_the_upload_widget_follows_the_required_inputs():
    data = {
        "L": {
            "input": {
                "required": {"image": [["a.png"], {"image_upload": True}], "n": ["INT", {}]},
                "optional": {"o": ["FLOAT", {}]},
            },
            "output": ["IMAGE"],
        }
    }
    assert [s.name for s in ObjectInfoIndex.from_dict(data)["L"].widget_slots] == ["image", "n", "upload", "o"]
    data["L"]["input_order"] = {"required": ["image", "n"], "optional": ["o"]}
    assert [s.name for s in ObjectInfoIndex.from_dict(data)["L"].widget_slots] == ["image", "n", "o", "upload"]
