/** A workflow on the canvas: typed ports, its exposed parameters, live state, progress, preview and outputs. */
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo, useEffect, useState } from "react";
import { api } from "../../api/client";
import type { JsonValue } from "../../api/rawJson";
import { isTerminal } from "../../api/types";
import { useLive } from "../../live/LiveProvider";
import { parameterValue } from "../../project/document";
import { useWorkspace } from "../../project/WorkspaceProvider";
import { useCanvasUi } from "../CanvasUi";
import { ParameterControl } from "../controls/ParameterControl";
import { inHandle, outHandle, portColour } from "../ports";
import type { WorkflowFlowNode } from "../types";
import { OutputPreview } from "./OutputPreview";

function RenameField({ title, onDone }: { title: string; onDone: (title: string | null) => void }) {
  const [text, setText] = useState(title);
  return (
    <input
      className="rename nodrag"
      autoFocus
      value={text}
      data-testid="rename-input"
      onChange={(e) => setText(e.target.value)}
      onBlur={() => onDone(text.trim() || null)}
      onKeyDown={(e) => {
        e.stopPropagation();
        if (e.key === "Enter") onDone(text.trim() || null);
        if (e.key === "Escape") onDone(null);
      }}
    />
  );
}

export const WorkflowNode = memo(function WorkflowNode({ id, data, selected }: NodeProps<WorkflowFlowNode>) {
  const { node, inspection } = data;
  const ws = useWorkspace();
  const live = useLive();
  const ui = useCanvasUi();
  const jobId = ws.latestByNode[id];
  const job = jobId ? live.state.jobs[jobId] : undefined;
  const state = job?.state ?? "idle";
  const backend = ws.backendFor(node);
  const uploadTo = node.pinned_backend
    ? [node.pinned_backend]
    : Object.values(live.state.backends)
        .filter((b) => b.status === "online" || b.status === "busy")
        .map((b) => b.id);

  // A finished job whose outputs did not come over the live stream: ask for them once.
  useEffect(() => {
    if (job && job.state === "succeeded" && job.outputs.length === 0) {
      api.job(job.id).then((j) => live.dispatch({ type: "jobs", jobs: [j] }), () => undefined);
    }
  }, [job?.id, job?.state]);

  const progress = job?.progress;
  const fraction = progress && progress.max > 0 ? progress.value / progress.max : isTerminal(job?.state) ? 1 : 0;
  const inputs = inspection?.ports.inputs ?? [];
  const outputs = inspection?.ports.outputs ?? [];
  const capability = backend ? inspection?.capability?.[backend] : undefined;
  const setValue = (param: string, value: JsonValue) => ws.dispatch({ type: "setValue", id, param, value });
  // Inputs an edge feeds are set at run time from the upstream output, so their control gives way to a note.
  const fedBy = new Map<string, string>();
  for (const e of ws.project.doc.edges) {
    if (e.target !== id) continue;
    const port = inputs.find((p) => p.id === e.target_port);
    const upstream = ws.project.doc.nodes.find((n) => n.id === e.source);
    if (port) fedBy.set(`${port.node_id}.${port.input}`, upstream?.title ?? e.source);
  }

  return (
    <div
      className={`workflow-node state-${state}${selected ? " selected" : ""}`}
      data-testid={`workflow-node-${id}`}
      onContextMenu={(e) => {
        e.preventDefault();
        ui.openMenu(id, e.clientX, e.clientY);
      }}
    >
      <header className="node-header">
        {ui.renamingId === id ? (
          <RenameField
            title={node.title}
            onDone={(title) => {
              if (title) ws.dispatch({ type: "updateNode", id, patch: { title } });
              ui.setRenamingId(null);
            }}
          />
        ) : (
          <span className="node-title" data-testid={`node-title-${id}`} onDoubleClick={() => ui.setRenamingId(id)}>
            {node.title}
          </span>
        )}
        <span className={`state-badge state-${state}`} data-testid={`node-state-${id}`}>
          {state}
        </span>
      </header>
      <div className="node-meta">
        {node.pinned_backend ? <span className="chip">📌 {node.pinned_backend}</span> : <span className="chip muted">any server</span>}
        {job?.backend ? <span className="chip">on {job.backend}</span> : null}
        {capability && !capability.ok ? (
          <span className="chip warn" title={[...capability.missing_classes].join(", ")}>
            missing on {backend}
          </span>
        ) : null}
      </div>
      <progress
        className="node-progress"
        data-testid={`node-progress-${id}`}
        max={1}
        value={fraction}
        title={progress ? `node ${progress.node_id ?? "?"}: ${progress.value}/${progress.max}` : undefined}
      />
      {job?.error ? <div className="error small">{job.error}</div> : null}

      <div className="ports">
        <div className="port-column">
          {inputs.map((p) => (
            <div key={p.id} className="port port-in">
              <Handle
                type="target"
                position={Position.Left}
                id={inHandle(p.id)}
                data-testid={`port-${id}-in-${p.id}`}
                data-kind={p.kind}
                style={{ background: portColour(p.kind) }}
              />
              <span>{p.label}</span>
              <small style={{ color: portColour(p.kind) }}>{p.kind}</small>
            </div>
          ))}
        </div>
        <div className="port-column out">
          {outputs.map((p) => (
            <div key={p.id} className="port port-out">
              <small style={{ color: portColour(p.kind) }}>{p.kind}</small>
              <span>{p.label}</span>
              <Handle
                type="source"
                position={Position.Right}
                id={outHandle(p.id)}
                data-testid={`port-${id}-out-${p.id}`}
                data-kind={p.kind}
                style={{ background: portColour(p.kind) }}
              />
            </div>
          ))}
        </div>
      </div>

      <div className="params">
        {node.exposed.map((p) =>
          fedBy.has(`${p.node_id}.${p.input}`) ? (
            <div key={p.id} className="param fed">
              <label>{p.label}</label>
              <span className="muted">← from {fedBy.get(`${p.node_id}.${p.input}`)}</span>
            </div>
          ) : (
          <ParameterControl
            key={p.id}
            param={p}
            value={parameterValue(node, p)}
            backend={backend}
            uploadTo={uploadTo}
            onChange={(v) => setValue(p.id, v)}
          />
          ),
        )}
        {node.exposed.length === 0 ? <p className="muted small">No parameters exposed.</p> : null}
      </div>

      {job?.preview && !isTerminal(job.state) ? (
        <img className="live-preview" data-testid={`live-preview-${id}`} src={job.preview.url} alt="sampler preview" />
      ) : null}
      {job && job.outputs.length ? <OutputPreview nodeId={id} outputs={job.outputs} /> : null}

      <footer className="node-actions nodrag">
        <button type="button" data-testid={`run-node-${id}`} onClick={() => void ws.run([id])}>
          ▶ Run
        </button>
        <button type="button" data-testid={`sweep-node-${id}`} onClick={() => ui.openSweep(id)} title="repeat or sweep parameters">
          ×N…
        </button>
        {job && !isTerminal(job.state) ? (
          <button type="button" onClick={() => void ws.cancel(job.id)}>
            Cancel
          </button>
        ) : null}
        <button type="button" onClick={() => ui.openPicker(id)} data-testid={`expose-${id}`}>
          Parameters…
        </button>
        <button type="button" onClick={() => ui.openEditor(id)} data-testid={`edit-internals-${id}`}>
          Edit internals
        </button>
      </footer>
    </div>
  );
});
