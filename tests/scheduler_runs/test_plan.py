"""Planning a run: every way a run request can be wrong is refused with a code naming the culprit."""

from __future__ import annotations

import pytest

from orch_common.contracts.projects import ProjectDocument, ProjectEdge
from orch_common.contracts.runs import Sweep, SweepAxis, ValueRange
from orch_common.workflow.project_run import ProjectRunError, item_prompt, plan_run
from tests.scheduler_runs.projects import chain, edge, gen_node, invert_node


def refused(document: ProjectDocument, nodes=(), sweep: Sweep | None = None) -> ProjectRunError:
    with pytest.raises(ProjectRunError) as caught:
        plan_run(document, nodes, sweep or Sweep())
    return caught.value


def test_a_selection_runs_its_upstream_unless_outputs_can_be_borrowed():
    assert plan_run(chain(), ["inv"], Sweep()).nodes == ("gen", "inv")
    plan = plan_run(chain(), ["inv"], Sweep(), has_outputs={"gen"})
    assert (plan.nodes, plan.external) == (("inv",), ("gen",))


def test_a_swept_upstream_node_is_run_not_borrowed():
    sweep = Sweep(axes=[SweepAxis(node="gen", parameter="seed", values=[1, 2])])
    assert plan_run(chain(), ["inv"], sweep, has_outputs={"gen"}).nodes == ("gen", "inv")


def test_an_unknown_selected_node_is_named():
    err = refused(chain(), ["ghost"])
    assert err.code == "unknown_node" and "ghost" in err.message


def test_a_cycle_is_named_by_its_nodes():
    doc = ProjectDocument(name="c", nodes=[invert_node("x"), invert_node("y")], edges=[edge("x", "y"), edge("y", "x")])
    err = refused(doc)
    assert err.code == "cycle" and "x" in err.message and "y" in err.message


def test_an_edge_whose_kind_does_not_fit_its_ports_is_named():
    doc = chain()
    doc.edges[0] = ProjectEdge(
        id="bad", source="gen", source_port="9.images", target="inv", target_port="1.image", kind="STRING"
    )
    err = refused(doc)
    assert err.code == "edge_kind" and "bad" in err.message


def test_an_edge_to_an_input_the_workflow_lacks_is_named():
    doc = chain()
    doc.edges[0] = ProjectEdge(
        id="e", source="gen", source_port="9.images", target="inv", target_port="7.image", kind="IMAGE"
    )
    assert refused(doc).code == "unknown_port"


def test_an_unknown_parameter_and_a_bad_value_are_named():
    doc = ProjectDocument(name="s", nodes=[gen_node()])
    err = refused(doc, sweep=Sweep(axes=[SweepAxis(node="gen", parameter="sead", values=[1])]))
    assert err.code == "unknown_parameter" and "sead" in err.message
    err = refused(doc, sweep=Sweep(axes=[SweepAxis(node="gen", parameter="steps", values=[4, 500])]))
    assert err.code == "bad_value" and "steps" in err.message


def test_a_sweep_too_large_is_refused():
    doc = ProjectDocument(name="s", nodes=[gen_node()])
    axes = [
        SweepAxis(node="gen", parameter="seed", range=ValueRange(start=0, stop=999, step=1)),
        SweepAxis(node="gen", parameter="3.cfg", values=list(range(20))),
    ]
    assert refused(doc, sweep=Sweep(axes=axes)).code == "bad_sweep"


def test_a_raw_address_can_be_swept_and_repeats_offset_every_seed():
    node = gen_node()
    prompt = item_prompt(node, {"3.cfg": 4.5, "seed": 10}, seed_offset=2)
    assert prompt["3"]["inputs"]["cfg"] == 4.5 and prompt["3"]["inputs"]["seed"] == 12
    assert node.workflow_api["3"]["inputs"]["seed"] == 1, "the document is not modified"
