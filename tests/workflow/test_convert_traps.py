"""One hand-made minimal workflow per conversion trap (protocol doc §3 F2), converted as the frontend would."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orch_common.workflow.convert import convert_ui_to_api
from orch_common.workflow.errors import ConversionError, MissingNodeClassError
from orch_common.workflow.object_info import ObjectInfoIndex
from tests.workflow.conftest import OBJECT_INFO_BYTES, Graph

EXTRA_CLASSES: dict[str, Any] = {
    "ComboWithControl": {
        "input": {
            "required": {
                "image": ["IMAGE"],
                "pick": [["a", "b", "c"], {"control_after_generate": True}],
                "strength": ["FLOAT", {"default": 1.0}],
            }
        },
        "output": ["IMAGE"],
        "output_name": ["IMAGE"],
        "name": "ComboWithControl",
        "display_name": "Combo+Ctl",
    },
    "Mix": {
        "input": {"required": {"a": ["LATENT"], "b": ["IMAGE"], "c": ["IMAGE,MASK"]}},
        "output": ["IMAGE"],
        "output_name": ["IMAGE"],
        "name": "Mix",
        "display_name": "Mix",
    },
    "NeedsMask": {
        "input": {"required": {"mask": ["MASK"]}},
        "output": [],
        "name": "NeedsMask",
        "display_name": "NeedsMask",
        "output_node": True,
    },
    "DictWidgets": {
        "input": {"required": {"alpha": ["INT", {"default": 1}], "beta": ["STRING", {}]}},
        "output": [],
        "name": "DictWidgets",
        "display_name": "DictWidgets",
        "output_node": True,
    },
}


@pytest.fixture(scope="module")
def idx() -> ObjectInfoIndex:
    data = json.loads(OBJECT_INFO_BYTES)
    data.update(EXTRA_CLASSES)
    return ObjectInfoIndex.from_dict(data)


def image_chain(g: Graph) -> None:
    g.node(1, "EmptyImage", [64, 48, 1, 0], outputs=[("IMAGE", "IMAGE")])
    g.node(9, "SaveImage", ["out"], inputs=[("images", "IMAGE")])


def test_widget_values_map_to_inputs_in_object_info_order_skipping_sockets(graph, idx):
    graph.node(
        3,
        "KSampler",
        [42, "fixed", 20, 7.5, "euler", "normal", 0.5],
        inputs=[
            ("model", "MODEL"),
            ("positive", "CONDITIONING"),
            ("negative", "CONDITIONING"),
            ("latent_image", "LATENT"),
        ],
    )
    out = convert_ui_to_api(graph.build(), idx)
    assert out["3"]["inputs"] == {
        "seed": 42,
        "steps": 20,
        "cfg": 7.5,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 0.5,
    }


def test_the_hidden_control_value_after_a_seed_never_reaches_the_prompt(graph, idx):
    graph.node(3, "KSampler", [7, "randomize", 20, 8, "euler", "karras", 1])
    inputs = convert_ui_to_api(graph.build(), idx)["3"]["inputs"]
    assert "control_after_generate" not in inputs
    assert inputs["steps"] == 20 and inputs["scheduler"] == "karras"


def test_a_combo_with_control_after_generate_has_two_hidden_widgets(graph, idx):
    graph.node(5, "ComboWithControl", ["b", "increment", "filter", 0.25], inputs=[("image", "IMAGE")])
    assert convert_ui_to_api(graph.build(), idx)["5"]["inputs"] == {"pick": "b", "strength": 0.25}


def test_a_seed_larger_than_2_pow_53_stays_exact(graph, idx):
    seed = 2**64 - 1
    graph.node(3, "KSampler", [seed, "fixed", 20, 8, "euler", "normal", 1])
    raw = json.dumps(graph.build())
    out = convert_ui_to_api(json.loads(raw), idx)
    assert out["3"]["inputs"]["seed"] == seed
    assert str(seed) in json.dumps(out)


def test_the_upload_widget_value_is_dropped_and_comes_after_all_other_widgets(graph, idx):
    graph.node(1, "LoadImage", ["pic.png", "image"])
    graph.node(2, "LoadImageMask", ["sub/m.png [output]", "red", "image"])
    out = convert_ui_to_api(graph.build(), idx)
    assert out["1"]["inputs"] == {"image": "pic.png"}
    assert out["2"]["inputs"] == {"image": "sub/m.png [output]", "channel": "red"}


def test_a_force_input_has_no_widget_value(graph, idx):
    graph.node(4, "SaveLoRANode", ["loras/x"], inputs=[("lora", "LORA_MODEL"), ("steps", "INT")])
    assert convert_ui_to_api(graph.build(), idx)["4"]["inputs"] == {"prefix": "loras/x"}


def test_a_widget_converted_to_a_linked_input_takes_the_link(graph, idx):
    image_chain(graph)
    graph.node(
        2,
        "ImageBlur",
        [3, 1.5],
        inputs=[("image", "IMAGE"), ("blur_radius", "INT")],
        outputs=[("IMAGE", "IMAGE")],
        widget_inputs=("blur_radius",),
    )
    graph.node(7, "PrimitiveInt", [5, "fixed"], outputs=[("INT", "INT")])
    graph.link(1, 0, 2, "image", "IMAGE")
    graph.link(7, 0, 2, "blur_radius", "INT")
    graph.link(2, 0, 9, "images", "IMAGE")
    out = convert_ui_to_api(graph.build(), idx)
    assert out["2"]["inputs"] == {"blur_radius": ["7", 0], "sigma": 1.5, "image": ["1", 0]}
    assert out["7"]["inputs"] == {"value": 5}


def test_a_primitive_node_pushes_its_value_into_every_target_and_disappears(graph, idx):
    image_chain(graph)
    graph.node(
        2,
        "ImageBlur",
        [3, 1.5],
        inputs=[("image", "IMAGE"), ("blur_radius", "INT")],
        outputs=[("IMAGE", "IMAGE")],
        widget_inputs=("blur_radius",),
    )
    graph.node(
        6, "EmptyImage", [8, 8, 1, 0], inputs=[("width", "INT")], widget_inputs=("width",), outputs=[("IMAGE", "IMAGE")]
    )
    graph.node(7, "PrimitiveNode", [11, "fixed"], outputs=[("INT", "INT")])
    graph.link(1, 0, 2, "image", "IMAGE")
    graph.link(7, 0, 2, "blur_radius", "INT")
    graph.link(7, 0, 6, "width", "INT")
    graph.link(2, 0, 9, "images", "IMAGE")
    out = convert_ui_to_api(graph.build(), idx)
    assert "7" not in out
    assert out["2"]["inputs"]["blur_radius"] == 11
    assert out["6"]["inputs"]["width"] == 11


def test_legacy_reroute_nodes_are_followed_also_by_primitive_values(graph, idx):
    image_chain(graph)
    graph.node(4, "Reroute", None, inputs=[("", "*")], outputs=[("", "IMAGE")])
    graph.node(
        2,
        "ImageBlur",
        [3, 1.5],
        inputs=[("image", "IMAGE"), ("blur_radius", "INT")],
        outputs=[("IMAGE", "IMAGE")],
        widget_inputs=("blur_radius",),
    )
    graph.node(7, "PrimitiveNode", [9], outputs=[("INT", "INT")])
    graph.node(8, "Reroute", None, inputs=[("", "*")], outputs=[("", "INT")])
    graph.link(1, 0, 4, "", "IMAGE")
    graph.link(4, 0, 2, "image", "IMAGE")
    graph.link(7, 0, 8, "", "INT")
    graph.link(8, 0, 2, "blur_radius", "INT")
    graph.link(2, 0, 9, "images", "IMAGE")
    out = convert_ui_to_api(graph.build(), idx)
    assert set(out) == {"1", "2", "9"}
    assert out["2"]["inputs"]["image"] == ["1", 0]
    # The frontend only migrates legacy reroutes to native ones on load (then the primitive links directly);
    # we always follow them, which is what the user sees on the canvas.
    assert out["2"]["inputs"]["blur_radius"] == 9


def test_native_reroutes_on_links_do_not_change_the_connection(graph, idx):
    image_chain(graph)
    link = graph.link(1, 0, 9, "images", "IMAGE")
    graph.extra["reroutes"] = [
        {"id": 1, "pos": [0, 0], "linkIds": [link]},
        {"id": 2, "parentId": 1, "pos": [5, 5], "linkIds": [link]},
    ]
    graph.extra["linkExtensions"] = [{"id": link, "parentId": 2}]
    assert convert_ui_to_api(graph.build(), idx)["9"]["inputs"]["images"] == ["1", 0]


def test_schema_1_object_links_with_parent_reroutes_convert(graph, idx):
    image_chain(graph)
    graph.link(1, 0, 9, "images", "IMAGE")
    data = graph.build()
    data["version"] = 1
    data["links"] = [
        dict(zip(["id", "origin_id", "origin_slot", "target_id", "target_slot", "type"], ln, strict=True), parentId=3)
        for ln in data["links"]
    ]
    data["reroutes"] = [{"id": 3, "pos": [1, 1], "linkIds": [1]}]
    data["state"] = {"lastNodeId": 9, "lastLinkId": 1, "lastGroupId": 0, "lastRerouteId": 3}
    assert convert_ui_to_api(data, idx)["9"]["inputs"]["images"] == ["1", 0]


def test_notes_are_dropped(graph, idx):
    image_chain(graph)
    graph.node(20, "Note", ["hello"])
    graph.node(21, "MarkdownNote", ["# hi"])
    assert set(convert_ui_to_api(graph.build(), idx)) == {"1", "9"}


def test_a_muted_node_is_dropped_with_the_links_to_it(graph, idx):
    image_chain(graph)
    graph.node(2, "ImageInvert", None, inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")], mode=2)
    graph.link(1, 0, 2, "image", "IMAGE")
    graph.link(2, 0, 9, "images", "IMAGE")
    out = convert_ui_to_api(graph.build(), idx)
    assert "2" not in out
    assert out["9"]["inputs"] == {"filename_prefix": "out"}


def test_a_bypassed_node_passes_the_same_slot_through(graph, idx):
    image_chain(graph)
    graph.node(2, "ImageInvert", None, inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")], mode=4)
    graph.link(1, 0, 2, "image", "IMAGE")
    graph.link(2, 0, 9, "images", "IMAGE")
    out = convert_ui_to_api(graph.build(), idx)
    assert "2" not in out
    assert out["9"]["inputs"]["images"] == ["1", 0]


def test_a_bypassed_node_with_two_outputs_keeps_negative_on_negative(graph, idx):
    graph.node(6, "CLIPTextEncode", ["pos"], outputs=[("CONDITIONING", "CONDITIONING")])
    graph.node(7, "CLIPTextEncode", ["neg"], outputs=[("CONDITIONING", "CONDITIONING")])
    graph.node(
        8,
        "ControlNetApplyAdvanced",
        [1, 0, 1],
        mode=4,
        inputs=[
            ("positive", "CONDITIONING"),
            ("negative", "CONDITIONING"),
            ("control_net", "CONTROL_NET"),
            ("image", "IMAGE"),
        ],
        outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
    )
    graph.node(
        3,
        "KSampler",
        [1, "fixed", 20, 8, "euler", "normal", 1],
        inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
    )
    graph.link(6, 0, 8, "positive", "CONDITIONING")
    graph.link(7, 0, 8, "negative", "CONDITIONING")
    graph.link(8, 0, 3, "positive", "CONDITIONING")
    graph.link(8, 1, 3, "negative", "CONDITIONING")
    inputs = convert_ui_to_api(graph.build(), idx)["3"]["inputs"]
    assert inputs["positive"] == ["6", 0] and inputs["negative"] == ["7", 0]


def test_a_bypassed_node_uses_the_first_exact_type_then_the_first_compatible(graph, idx):
    g = graph
    g.node(1, "EmptyLatentImage", [8, 8, 1], outputs=[("LATENT", "LATENT")])
    g.node(2, "EmptyImage", [8, 8, 1, 0], outputs=[("IMAGE", "IMAGE")])
    g.node(3, "SolidMask", [1.0, 8, 8], outputs=[("MASK", "MASK")])
    g.node(
        4,
        "Mix",
        None,
        mode=4,
        inputs=[("a", "LATENT"), ("b", "IMAGE"), ("c", "IMAGE,MASK")],
        outputs=[("IMAGE", "IMAGE")],
    )
    g.node(9, "SaveImage", ["x"], inputs=[("images", "IMAGE")])
    g.node(10, "NeedsMask", None, inputs=[("mask", "MASK")])
    g.link(1, 0, 4, "a", "LATENT")
    g.link(2, 0, 4, "b", "IMAGE")
    g.link(3, 0, 4, "c", "MASK")
    g.link(4, 0, 9, "images", "IMAGE")
    g.link(4, 0, 10, "mask", "IMAGE")
    out = convert_ui_to_api(g.build(), idx)
    assert out["9"]["inputs"]["images"] == ["2", 0]  # slot 0 is LATENT: first exact IMAGE is b
    assert out["10"]["inputs"]["mask"] == ["3", 0]  # no exact MASK: c accepts IMAGE and MASK


def test_a_bypassed_node_without_a_matching_input_drops_the_consumer_input(graph, idx):
    graph.node(1, "EmptyLatentImage", [8, 8, 1], outputs=[("LATENT", "LATENT")])
    graph.node(
        2, "VAEDecode", None, mode=4, inputs=[("samples", "LATENT"), ("vae", "VAE")], outputs=[("IMAGE", "IMAGE")]
    )
    graph.node(9, "SaveImage", ["x"], inputs=[("images", "IMAGE")])
    graph.link(1, 0, 2, "samples", "LATENT")
    graph.link(2, 0, 9, "images", "IMAGE")
    assert convert_ui_to_api(graph.build(), idx)["9"]["inputs"] == {"filename_prefix": "x"}


def test_an_any_type_consumer_takes_the_same_slot_of_a_bypassed_node(graph, idx):
    graph.node(1, "EmptyLatentImage", [8, 8, 1], outputs=[("LATENT", "LATENT")])
    graph.node(
        2, "VAEDecode", None, mode=4, inputs=[("samples", "LATENT"), ("vae", "VAE")], outputs=[("IMAGE", "IMAGE")]
    )
    graph.node(9, "PreviewAny", None, inputs=[("source", "*")])
    graph.link(1, 0, 2, "samples", "LATENT")
    graph.link(2, 0, 9, "source", "IMAGE")
    assert convert_ui_to_api(graph.build(), idx)["9"]["inputs"] == {"source": ["1", 0]}


def blur_subgraph(sub_id: str = "11111111-1111-4111-8111-111111111111") -> dict[str, Any]:
    return {
        "id": sub_id,
        "version": 1,
        "name": "blur",
        "revision": 0,
        "state": {},
        "inputNode": {"id": -10, "bounding": [0, 0, 1, 1]},
        "outputNode": {"id": -20, "bounding": [0, 0, 1, 1]},
        "inputs": [
            {"id": "i1", "name": "image", "type": "IMAGE", "linkIds": [101]},
            {"id": "i2", "name": "blur_radius", "type": "INT", "linkIds": [102]},
        ],
        "outputs": [{"id": "o1", "name": "IMAGE", "type": "IMAGE", "linkIds": [103]}],
        "widgets": [],
        "nodes": [
            {
                "id": 1,
                "type": "ImageBlur",
                "mode": 0,
                "order": 0,
                "inputs": [
                    {"name": "image", "type": "IMAGE", "link": 101},
                    {"name": "blur_radius", "type": "INT", "link": 102, "widget": {"name": "blur_radius"}},
                ],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [103]}],
                "widgets_values": [2, 0.7],
            }
        ],
        "links": [
            {"id": 101, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "IMAGE"},
            {"id": 102, "origin_id": -10, "origin_slot": 1, "target_id": 1, "target_slot": 1, "type": "INT"},
            {"id": 103, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"},
        ],
        "groups": [],
    }


def test_a_subgraph_is_flattened_with_outer_inner_ids_and_its_promoted_widget_value(graph, idx):
    sub = blur_subgraph()
    graph.subgraphs.append(sub)
    image_chain(graph)
    graph.node(5, sub["id"], [9], inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    graph.link(1, 0, 5, "image", "IMAGE")
    graph.link(5, 0, 9, "images", "IMAGE")
    out = convert_ui_to_api(graph.build(), idx)
    assert set(out) == {"1", "5:1", "9"}
    assert out["5:1"]["inputs"] == {"blur_radius": 9, "sigma": 0.7, "image": ["1", 0]}
    assert out["9"]["inputs"]["images"] == ["5:1", 0]


def test_a_linked_subgraph_input_takes_the_outer_link(graph, idx):
    sub = blur_subgraph()
    graph.subgraphs.append(sub)
    image_chain(graph)
    graph.node(7, "PrimitiveInt", [4, "fixed"], outputs=[("INT", "INT")])
    graph.node(
        5,
        sub["id"],
        [9],
        inputs=[("image", "IMAGE"), ("blur_radius", "INT")],
        outputs=[("IMAGE", "IMAGE")],
        widget_inputs=("blur_radius",),
    )
    graph.link(1, 0, 5, "image", "IMAGE")
    graph.link(7, 0, 5, "blur_radius", "INT")
    graph.link(5, 0, 9, "images", "IMAGE")
    assert convert_ui_to_api(graph.build(), idx)["5:1"]["inputs"]["blur_radius"] == ["7", 0]


def test_nested_subgraphs_flatten_recursively(graph, idx):
    inner = blur_subgraph()
    outer_id = "22222222-2222-4222-8222-222222222222"
    outer = {
        **blur_subgraph(outer_id),
        "name": "wrapper",
        "inputs": [{"id": "i1", "name": "image", "type": "IMAGE", "linkIds": [201]}],
        "outputs": [{"id": "o1", "name": "IMAGE", "type": "IMAGE", "linkIds": [202]}],
        "nodes": [
            {
                "id": 3,
                "type": inner["id"],
                "mode": 0,
                "order": 0,
                "widgets_values": [5],
                "inputs": [{"name": "image", "type": "IMAGE", "link": 201}],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [202]}],
            }
        ],
        "links": [[201, -10, 0, 3, 0, "IMAGE"], [202, 3, 0, -20, 0, "IMAGE"]],
    }
    graph.subgraphs.extend([inner, outer])
    image_chain(graph)
    graph.node(8, outer_id, None, inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    graph.link(1, 0, 8, "image", "IMAGE")
    graph.link(8, 0, 9, "images", "IMAGE")
    out = convert_ui_to_api(graph.build(), idx)
    assert out["8:3:1"]["inputs"] == {"blur_radius": 5, "sigma": 0.7, "image": ["1", 0]}
    assert out["9"]["inputs"]["images"] == ["8:3:1", 0]


def test_a_subgraph_that_contains_itself_is_an_error(graph, idx):
    sub = blur_subgraph()
    sub["nodes"].append({"id": 2, "type": sub["id"], "mode": 0, "inputs": [], "outputs": []})
    graph.subgraphs.append(sub)
    graph.node(5, sub["id"], None)
    with pytest.raises(ConversionError, match="contains itself"):
        convert_ui_to_api(graph.build(), idx)


def test_array_literals_are_wrapped(graph, idx):
    graph.node(4, "DictWidgets", [[1, 2, 3], "x"])
    assert convert_ui_to_api(graph.build(), idx)["4"]["inputs"]["alpha"] == {"__value__": [1, 2, 3]}


def test_widgets_values_as_an_object_map_by_name(graph, idx):
    """The frontend leaves object-valued widgets_values to the node's own JS; we map them by name."""
    graph.node(4, "DictWidgets", {"beta": "b", "alpha": 3, "ignored": 1})
    assert convert_ui_to_api(graph.build(), idx)["4"]["inputs"] == {"alpha": 3, "beta": "b"}


def test_the_title_is_the_node_title_or_the_class_display_name(graph, idx):
    graph.node(1, "EmptyImage", [8, 8, 1, 0], title="Canvas")
    graph.node(2, "LoadImage", ["a.png", "image"])
    out = convert_ui_to_api(graph.build(), idx)
    assert out["1"]["_meta"]["title"] == "Canvas"
    assert out["2"]["_meta"]["title"] == "Load Image"


def test_a_missing_class_names_the_node_and_its_class(graph, idx):
    image_chain(graph)
    graph.node(17, "SomeCustomPackNode", [1])
    with pytest.raises(MissingNodeClassError) as info:
        convert_ui_to_api(graph.build(), idx)
    assert info.value.node_id == "17" and info.value.class_type == "SomeCustomPackNode"
    assert "17" in str(info.value) and "SomeCustomPackNode" in str(info.value)


def test_string_node_ids_numeric_string_slots_and_odd_link_types_are_accepted(graph, idx):
    graph.node("a", "EmptyImage", [8, 8, 1, 0], outputs=[("IMAGE", ["IMAGE"])])
    graph.node("b", "SaveImage", ["x"], inputs=[("images", "IMAGE")])
    graph.link("a", 0, "b", "images", "IMAGE")
    data = graph.build()
    data["links"][0][2] = "0"
    data["links"][0][5] = 0
    assert convert_ui_to_api(data, idx)["b"]["inputs"]["images"] == ["a", 0]


def test_a_link_id_that_does_not_exist_is_an_error_with_a_path(graph, idx):
    graph.node(9, "SaveImage", ["x"], inputs=[("images", "IMAGE")])
    data = graph.build()
    data["nodes"][0]["inputs"][0]["link"] = 99
    with pytest.raises(ConversionError) as info:
        convert_ui_to_api(data, idx)
    assert info.value.path == "nodes[0]" and "99" in info.value.message


def test_an_int_named_seed_gets_a_control_widget_even_without_the_option(graph, idx):
    """Legacy frontend convention kept in 1.27: INT inputs named seed/noise_seed get a control widget."""
    slots = [s.name for s in idx["TrainLoraNode"].widget_slots]
    assert slots[slots.index("seed") + 1] == "control_after_generate"


def test_a_primitive_without_a_saved_value_leaves_its_target_alone(graph, idx):
    image_chain(graph)
    graph.node(
        2,
        "ImageBlur",
        [3, 1.5],
        inputs=[("image", "IMAGE"), ("blur_radius", "INT")],
        outputs=[("IMAGE", "IMAGE")],
        widget_inputs=("blur_radius",),
    )
    graph.node(7, "PrimitiveNode", None, outputs=[("INT", "INT")])
    graph.link(7, 0, 2, "blur_radius", "INT")
    assert convert_ui_to_api(graph.build(), idx)["2"]["inputs"]["blur_radius"] == 3


def test_a_remote_combo_carries_its_refresh_widgets(graph, idx):
    """LoadImageOutput: combo, the auto-refresh toggle (serialize: false), the refresh button, upload.

    Read from the frontend 1.27.10 source: the refresh button is a plain button without serialize: false,
    so graphToPrompt emits ``"refresh": "refresh"`` (the backend ignores unknown inputs). Not verified
    against a live browser.
    """
    graph.node(1, "LoadImageOutput", ["out.png [output]", False, "refresh", "image"])
    assert convert_ui_to_api(graph.build(), idx)["1"]["inputs"] == {"image": "out.png [output]", "refresh": "refresh"}


def test_legacy_values_saved_for_force_inputs_are_dropped_when_the_count_matches(graph, idx):
    """migrateWidgetsValues: old saves stored a value for forceInput inputs; the frontend drops them."""
    graph.node(4, "SaveLoRANode", ["loras/x", 100], inputs=[("lora", "LORA_MODEL"), ("steps", "INT")])
    assert convert_ui_to_api(graph.build(), idx)["4"]["inputs"] == {"prefix": "loras/x"}


def test_fewer_values_than_widgets_leaves_the_rest_at_their_defaults(graph, idx):
    """The frontend assigns widgets_values positionally and keeps defaults for the remainder."""
    graph.node(3, "KSampler", [5])
    inputs = convert_ui_to_api(graph.build(), idx)["3"]["inputs"]
    assert inputs["seed"] == 5 and inputs["steps"] == 20 and inputs["sampler_name"] == "euler"


def test_a_muted_subgraph_instance_still_emits_its_inner_nodes(graph, idx):
    """Frontend 1.27.10 flattens subgraph instances without looking at the instance's mode
    (SubgraphNode.getInnerNodes), so the inner nodes still run; we mirror that. A later frontend
    may change this."""
    sub = blur_subgraph()
    graph.subgraphs.append(sub)
    image_chain(graph)
    graph.node(5, sub["id"], [9], inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")], mode=2)
    graph.link(1, 0, 5, "image", "IMAGE")
    graph.link(5, 0, 9, "images", "IMAGE")
    out = convert_ui_to_api(graph.build(), idx)
    assert out["5:1"]["inputs"]["image"] == ["1", 0]
    assert out["9"]["inputs"]["images"] == ["5:1", 0]


def test_a_bypassed_subgraph_instance_passes_its_matching_input_through(graph, idx):
    sub = blur_subgraph()
    graph.subgraphs.append(sub)
    image_chain(graph)
    graph.node(5, sub["id"], [9], inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")], mode=4)
    graph.link(1, 0, 5, "image", "IMAGE")
    graph.link(5, 0, 9, "images", "IMAGE")
    assert convert_ui_to_api(graph.build(), idx)["9"]["inputs"]["images"] == ["1", 0]


def test_a_muted_node_of_an_unknown_class_is_not_an_error(graph, idx):
    """Muted and bypassed nodes never reach the server, so a class it lacks does not matter."""
    image_chain(graph)
    graph.node(30, "SomeCustomPackNode", [1], mode=2)
    graph.node(31, "OtherPackNode", [1], mode=4, inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    graph.link(1, 0, 31, "image", "IMAGE")
    graph.link(31, 0, 9, "images", "IMAGE")
    out = convert_ui_to_api(graph.build(), idx)
    assert set(out) == {"1", "9"} and out["9"]["inputs"]["images"] == ["1", 0]


def test_a_dynamic_prompt_is_sent_as_written(graph, idx):
    """The frontend resolves {a|b} and strips comments in JavaScript at queue time; a Python converter
    cannot reproduce that randomness, so the text is passed through unchanged."""
    graph.node(6, "CLIPTextEncode", ["a {red|blue} fox // comment"], inputs=[("clip", "CLIP")])
    assert convert_ui_to_api(graph.build(), idx)["6"]["inputs"]["text"] == "a {red|blue} fox // comment"


def test_a_legitimate_string_equal_to_a_control_mode_is_not_eaten(graph, idx):
    """Values map by the class's widget list, not by guessing which strings are control values."""
    graph.node(5, "ComboWithControl", ["fixed", "fixed", "", 0.5], inputs=[("image", "IMAGE")])
    data = json.loads(OBJECT_INFO_BYTES)
    data["Texty"] = {
        "input": {"required": {"seed": ["INT", {}], "mode": ["STRING", {}]}},
        "output": [],
        "output_node": True,
        "name": "Texty",
        "display_name": "Texty",
    }
    graph.node(6, "Texty", [3, "randomize", "randomize"])
    out = convert_ui_to_api(graph.build(), ObjectInfoIndex.from_dict({**data, **EXTRA_CLASSES}))
    assert out["6"]["inputs"] == {"seed": 3, "mode": "randomize"}


def test_a_legacy_group_node_asks_for_conversion_to_a_subgraph(graph, idx):
    graph.node(3, "workflow>my group", [1])
    with pytest.raises(ConversionError, match="legacy group node"):
        convert_ui_to_api(graph.build(), idx)


def test_a_bypassed_node_without_inputs_cannot_feed_an_any_type_consumer(graph, idx):
    """The frontend throws a SlotIndexError here (resolveInput(0) on a node without inputs)."""
    graph.node(1, "DisableNoise", None, outputs=[("NOISE", "NOISE")], mode=4)
    graph.node(9, "PreviewAny", None, inputs=[("source", "*")])
    graph.link(1, 0, 9, "source", "NOISE")
    with pytest.raises(ConversionError, match="no inputs"):
        convert_ui_to_api(graph.build(), idx)


def test_widget_sockets_count_as_inputs_when_matching_a_bypassed_node(graph, idx):
    """In 1.27 every widget also has an input socket, so a bypassed EmptyImage offers its (unlinked)
    width socket to an any-type consumer, which then gets nothing."""
    graph.node(1, "EmptyImage", [8, 8, 1, 0], outputs=[("IMAGE", "IMAGE")], mode=4)
    graph.node(9, "PreviewAny", None, inputs=[("source", "*")])
    graph.link(1, 0, 9, "source", "IMAGE")
    assert convert_ui_to_api(graph.build(), idx)["9"]["inputs"] == {}


def test_prompt_nodes_come_in_the_frontends_execution_order(graph, idx):
    """graphToPrompt walks computeExecutionOrder: sources first (Kahn's order), whatever the saved order."""
    graph.node(9, "SaveImage", ["x"], inputs=[("images", "IMAGE")])
    graph.node(2, "ImageInvert", None, inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    graph.node(1, "EmptyImage", [8, 8, 1, 0], outputs=[("IMAGE", "IMAGE")])
    graph.link(1, 0, 2, "image", "IMAGE")
    graph.link(2, 0, 9, "images", "IMAGE")
    assert list(convert_ui_to_api(graph.build(), idx)) == ["1", "2", "9"]


def test_a_muted_primitive_node_still_pushes_its_value(graph, idx):
    """graphToPrompt calls applyToGraph on every virtual node before looking at modes."""
    graph.node(2, "ImageBlur", [3, 1.5], inputs=[("blur_radius", "INT")], widget_inputs=("blur_radius",))
    graph.node(7, "PrimitiveNode", [6, "fixed"], outputs=[("INT", "INT")], mode=2)
    graph.link(7, 0, 2, "blur_radius", "INT")
    assert convert_ui_to_api(graph.build(), idx)["2"]["inputs"]["blur_radius"] == 6
