"""The run engine on a pure in-memory fleet: DAG order, bindings, sweeps, item retry, run cancel, replay."""

from __future__ import annotations

from typing import Any

from orch_common.contracts import events as ev
from orch_common.contracts.projects import ProjectDocument, ProjectEdge, ProjectNode
from orch_common.contracts.runs import RunCancellationRequested, RunItemRetryRequested, RunRequested, Sweep, SweepAxis
from orch_scheduler.runs.views import run_view
from tests.scheduler.factories import registered, submitted
from tests.scheduler_runs.driver import CLASSES, Fleet
from tests.scheduler_runs.projects import branches, chain, gen_node, invert_node


def request(run_id: str, document: ProjectDocument, **kw: Any) -> RunRequested:
    return RunRequested(run_id=run_id, project_id="p1", project_version=1, document=document, **kw)


def submitted_jobs(fleet: Fleet, run_id: str) -> list[ev.JobSubmitted]:
    return [e for e in fleet.log if isinstance(e, ev.JobSubmitted) and e.run_id == run_id]


def test_a_downstream_node_waits_for_its_upstream_and_gets_its_output_as_an_input_on_its_pin():
    fleet = Fleet(["sim-a", "sim-b"])
    fleet.emit(request("r1", chain(pin="sim-b")))
    fleet.settle()
    assert [j.graph_node_id for j in submitted_jobs(fleet, "r1")] == ["gen"]
    fleet.run_all()
    gen, inv = submitted_jobs(fleet, "r1")
    assert (gen.job_id, inv.job_id) == ("r1-0-gen", "r1-0-inv")
    assert inv.pinned_backend == "sim-b" and inv.labels == {"item": "0"} and inv.project_id == "p1"
    [binding] = inv.inputs
    assert binding.artifact_id == "r1-0-gen/1/9/0-out.png"
    assert (binding.node_id, binding.input_name, binding.kind) == ("1", "image", ev.ArtifactKind.IMAGE)
    assert fleet.state.jobs["r1-0-inv"].attempts[0].backend_id == "sim-b"
    view = run_view(fleet.state, fleet.state.runs["r1"])
    assert view["state"] == "succeeded"
    assert view["items"][0]["nodes"]["inv"]["outputs"][0]["artifact_id"] == "r1-0-inv/1/9/0-out.png"


def test_independent_branches_are_submitted_together_and_run_on_different_backends():
    fleet = Fleet(["sim-a", "sim-b"], max_inflight=1)
    fleet.emit(request("r1", branches()))
    fleet.settle()
    first = {e.job_id: e.backend_id for e in fleet.placed}
    assert set(first) == {"r1-0-a", "r1-0-b"}
    assert len(set(first.values())) == 2
    fleet.run_all()
    assert run_view(fleet.state, fleet.state.runs["r1"])["state"] == "succeeded"


def test_a_sweep_of_seeds_times_prompts_makes_one_job_per_item_with_its_values_patched():
    sweep = Sweep(
        axes=[
            SweepAxis(node="gen", parameter="seed", values=[1, 2, 3]),
            SweepAxis(node="gen", parameter="prompt", values=["cat", "dog"]),
        ]
    )
    fleet = Fleet(["sim-a", "sim-b"])
    fleet.emit(request("r1", ProjectDocument(name="s", nodes=[gen_node()]), sweep=sweep))
    fleet.run_all()
    jobs = submitted_jobs(fleet, "r1")
    assert len(jobs) == 6
    seen = {(j.workflow["3"]["inputs"]["seed"], j.workflow["6"]["inputs"]["text"]) for j in jobs}
    assert seen == {(s, p) for s in (1, 2, 3) for p in ("cat", "dog")}
    view = run_view(fleet.state, fleet.state.runs["r1"])
    assert [i["state"] for i in view["items"]] == ["succeeded"] * 6
    assert view["items"][1]["values"] == [
        {"node": "gen", "parameter": "seed", "value": 1},
        {"node": "gen", "parameter": "prompt", "value": "dog"},
    ]


def test_repeats_vary_their_seeds_deterministically():
    fleet = Fleet(["sim-a"])
    fleet.emit(request("r1", ProjectDocument(name="s", nodes=[gen_node(values={"seed": 40})]), sweep=Sweep(repeat=3)))
    fleet.run_all()
    assert [j.workflow["3"]["inputs"]["seed"] for j in submitted_jobs(fleet, "r1")] == [40, 41, 42]


def test_a_failed_node_stops_only_its_items_downstream_and_a_retry_redoes_only_what_failed():
    sweep = Sweep(axes=[SweepAxis(node="gen", parameter="seed", values=[1, 2])])
    fleet = Fleet(["sim-a", "sim-b"])
    fleet.fail = lambda job, attempt, backend: ev.FailureReason.NODE_ERROR if job == "r1-1-inv" else None
    fleet.emit(request("r1", chain(), sweep=sweep))
    fleet.run_all()
    view = run_view(fleet.state, fleet.state.runs["r1"])
    assert view["state"] == "failed"
    assert [i["state"] for i in view["items"]] == ["succeeded", "failed"]
    assert view["items"][1]["nodes"]["gen"]["state"] == "succeeded"
    assert view["items"][1]["nodes"]["gen"]["outputs"], "outputs of finished nodes stay available"
    assert view["items"][1]["nodes"]["inv"]["error"]["reason"] == "node_error"

    fleet.fail = lambda job, attempt, backend: None
    fleet.emit(RunItemRetryRequested(run_id="r1", item=1, nonce="n1"))
    fleet.run_all()
    again = [j.job_id for j in submitted_jobs(fleet, "r1")]
    assert again == ["r1-0-gen", "r1-1-gen", "r1-0-inv", "r1-1-inv", "r1-1-inv-r1"]
    view = run_view(fleet.state, fleet.state.runs["r1"])
    assert view["state"] == "succeeded"
    assert view["items"][1]["nodes"]["inv"]["jobs"] == ["r1-1-inv", "r1-1-inv-r1"]


def test_a_failed_upstream_blocks_its_downstream_until_a_retry_runs_both():
    fleet = Fleet(["sim-a"])
    fleet.fail = lambda job, attempt, backend: ev.FailureReason.VALIDATION if job == "r1-0-gen" else None
    fleet.emit(request("r1", chain()))
    fleet.run_all()
    view = run_view(fleet.state, fleet.state.runs["r1"])
    assert view["items"][0]["nodes"]["inv"]["state"] == "blocked"
    fleet.fail = lambda job, attempt, backend: None
    fleet.emit(RunItemRetryRequested(run_id="r1", item=0, nonce="n1"))
    fleet.run_all()
    assert [j.job_id for j in submitted_jobs(fleet, "r1")] == ["r1-0-gen", "r1-0-gen-r1", "r1-0-inv"]


def test_cancelling_a_run_cancels_its_unfinished_jobs_and_nobody_elses():
    fleet = Fleet(["sim-a"])
    fleet.emit(submitted("other"))
    fleet.emit(request("r1", ProjectDocument(name="s", nodes=[gen_node()]), sweep=Sweep(repeat=4)))
    fleet.emit(request("r2", ProjectDocument(name="t", nodes=[gen_node()])))
    fleet.settle()
    fleet.emit(RunCancellationRequested(run_id="r1"))
    fleet.settle()
    cancels = [e.job_id for e in fleet.log if isinstance(e, ev.JobCancellationRequested)]
    assert sorted(cancels) == [f"r1-{i}-gen" for i in range(4)]
    assert not fleet.state.jobs["other"].cancel_requested and not fleet.state.jobs["r2-0-gen"].cancel_requested


def test_a_run_cancelled_again_after_an_item_retry_cancels_the_retried_jobs_too():
    fleet = Fleet(["sim-a"], max_inflight=1)
    fleet.emit(submitted("busy"))
    fleet.settle()  # "busy" holds the only slot, so the run's jobs stay queued
    fleet.emit(request("r1", ProjectDocument(name="s", nodes=[gen_node()]), sweep=Sweep(repeat=2)))
    fleet.settle()
    fleet.emit(RunCancellationRequested(run_id="r1", nonce="c1"))
    fleet.settle()
    assert fleet.state.jobs["r1-1-gen"].state.value == "cancelled"
    fleet.emit(RunItemRetryRequested(run_id="r1", item=1, nonce="n1"))
    fleet.settle()
    assert fleet.state.jobs["r1-1-gen-r1"].state.value == "queued"
    fleet.emit(RunCancellationRequested(run_id="r1", nonce="c2"))
    fleet.settle()
    assert fleet.state.jobs["r1-1-gen-r1"].state.value == "cancelled", "the second cancel reached the retried job"
    assert not fleet.state.jobs["busy"].cancel_requested


def test_a_run_of_a_downstream_node_alone_borrows_the_latest_upstream_outputs():
    fleet = Fleet(["sim-a"])
    fleet.emit(request("r1", chain()))
    fleet.run_all()
    fleet.emit(request("r2", chain(), nodes=["inv"]))
    fleet.run_all()
    [job] = submitted_jobs(fleet, "r2")
    assert job.graph_node_id == "inv" and job.inputs[0].artifact_id.startswith("r1-0-gen/")
    assert fleet.state.runs["r2"].external == {"gen": "r1-0-gen"}
    fleet.emit(request("r3", ProjectDocument(name="x", nodes=[gen_node(), invert_node()], edges=[])))
    fleet.run_all()


def test_a_run_that_cannot_be_planned_is_kept_failed_and_submits_nothing():
    doc = ProjectDocument(name="bad", nodes=[gen_node()])
    fleet = Fleet(["sim-a"])
    fleet.emit(request("r1", doc, nodes=["nope"]))
    fleet.settle()
    view = run_view(fleet.state, fleet.state.runs["r1"])
    assert view["state"] == "failed" and view["error"]["code"] == "unknown_node"
    assert not submitted_jobs(fleet, "r1")


def test_replaying_the_log_from_zero_gives_the_live_state():
    sweep = Sweep(axes=[SweepAxis(node="gen", parameter="seed", values=[1, 2])], repeat=2)
    fleet = Fleet(["sim-a", "sim-b"])
    fleet.fail = lambda job, attempt, backend: (
        ev.FailureReason.BACKEND_LOST if attempt == 1 and job.endswith("inv") else None
    )
    fleet.emit(request("r1", chain(), sweep=sweep))
    fleet.run_all()
    assert fleet.replayed().snapshot() == fleet.state.snapshot()


def test_a_string_edge_patches_the_upstream_text_instead_of_uploading_a_file():
    writer = ProjectNode(
        id="writer",
        title="Writer",
        workflow_api={
            "1": {"class_type": "PrimitiveString", "inputs": {"value": "a poem"}},
            "9": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        },
    )
    reader = ProjectNode(
        id="reader",
        title="Reader",
        workflow_api={
            "1": {"class_type": "PrimitiveString", "inputs": {"value": "placeholder"}},
            "9": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        },
    )
    edge = ProjectEdge(
        id="e", source="writer", source_port="9.source", target="reader", target_port="1.value", kind="STRING"
    )
    doc = ProjectDocument(name="t", nodes=[writer, reader], edges=[edge])
    fleet = Fleet(["sim-a"])
    backend = fleet.state.backends["sim-a"]
    backend.node_classes = backend.node_classes | {"PrimitiveString", "PreviewAny"}
    fleet.emit(request("r1", doc))
    fleet.run_all()
    assert fleet.state.runs["r1"].error is None
    [binding] = submitted_jobs(fleet, "r1")[1].inputs
    assert binding.as_text and binding.kind == ev.ArtifactKind.TEXT and binding.input_name == "value"


def test_cancelling_one_job_of_a_run_cancels_its_item_downstream_and_leaves_the_other_items():
    sweep = Sweep(axes=[SweepAxis(node="gen", parameter="seed", values=[1, 2])])
    fleet = Fleet(["sim-a"])
    fleet.emit(request("r1", chain(), sweep=sweep))
    fleet.settle()
    fleet.emit(ev.JobCancellationRequested(job_id="r1-0-gen"))
    fleet.emit(ev.JobCancelled(job_id="r1-0-gen", attempt=1))
    fleet.running.pop("r1-0-gen", None)
    fleet.run_all()
    view = run_view(fleet.state, fleet.state.runs["r1"])
    assert [i["state"] for i in view["items"]] == ["cancelled", "succeeded"]
    assert view["items"][0]["nodes"]["inv"] == {"state": "cancelled", "jobs": [], "outputs": [], "error": None}
    assert view["state"] == "cancelled"


def test_a_run_job_needs_the_model_files_its_prompt_loads_and_goes_only_where_they_are():
    fleet = Fleet(["sim-a", "sim-b"])
    fleet.emit(registered("sim-b", CLASSES, agent_instance="b2", models={"checkpoints": ["sim-sd15.safetensors"]}))
    fleet.emit(request("r1", ProjectDocument(name="s", nodes=[gen_node()]), sweep=Sweep(repeat=3)))
    fleet.run_all()
    jobs = submitted_jobs(fleet, "r1")
    assert all(j.required_models == {"checkpoints": ["sim-sd15.safetensors"]} for j in jobs)
    assert {fleet.state.jobs[j.job_id].attempts[0].backend_id for j in jobs} == {"sim-b"}
