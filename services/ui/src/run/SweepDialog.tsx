/**
 * "Run ×N / sweep": repeat a node (or the project) N times with varied seeds, and sweep exposed parameters over
 * lists or ranges, grid or zip; the item count shows before anything starts.
 */
import { useMemo, useState } from "react";
import { useWorkspace } from "../project/WorkspaceProvider";
import { buildSweep, type AxisDraft } from "./sweep";

const newAxis = (node: string, parameter: string, type: AxisDraft["type"]): AxisDraft => ({
  node,
  parameter,
  type,
  kind: "list",
  list: "",
  start: "",
  stop: "",
  step: "1",
});

export function SweepDialog({ nodeIds, onClose }: { nodeIds: string[] | "all"; onClose: () => void }) {
  const ws = useWorkspace();
  const nodes = ws.project.doc.nodes.filter((n) => nodeIds === "all" || nodeIds.includes(n.id));
  const choices = nodes.flatMap((n) => n.exposed.map((p) => ({ node: n, param: p, key: `${n.id}::${p.id}` })));
  const [repeat, setRepeat] = useState("1");
  const [varySeeds, setVarySeeds] = useState(true);
  const [mode, setMode] = useState<"grid" | "zip">("grid");
  const [axes, setAxes] = useState<AxisDraft[]>([]);

  const built = useMemo(() => {
    try {
      return { ...buildSweep(axes, mode, Number(repeat), varySeeds), error: null };
    } catch (e) {
      return { sweep: null, items: 0, error: (e as Error).message };
    }
  }, [axes, mode, repeat, varySeeds]);
  const setAxis = (i: number, patch: Partial<AxisDraft>) => setAxes((a) => a.map((x, k) => (k === i ? { ...x, ...patch } : x)));
  const addAxis = (key: string) => {
    const c = choices.find((x) => x.key === key);
    if (c) setAxes((a) => [...a, newAxis(c.node.id, c.param.id, c.param.type)]);
  };
  const start = async () => {
    if (!built.sweep) return;
    onClose();
    await ws.run(nodeIds === "all" ? "all" : nodeIds, built.sweep);
  };
  const labelOf = (a: AxisDraft) => {
    const c = choices.find((x) => x.key === `${a.node}::${a.parameter}`);
    return c ? `${c.node.title} · ${c.param.label || c.param.id}` : `${a.node} · ${a.parameter}`;
  };
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal sweep" role="dialog" aria-label="Run ×N / sweep" data-testid="sweep-dialog" onClick={(e) => e.stopPropagation()}>
        <h3>Run ×N / sweep — {nodeIds === "all" ? "the whole project" : nodes.map((n) => n.title).join(", ")}</h3>
        <label>
          repeat{" "}
          <input type="number" min={1} value={repeat} onChange={(e) => setRepeat(e.target.value)} data-testid="sweep-repeat" />
        </label>{" "}
        <label>
          <input type="checkbox" checked={varySeeds} onChange={(e) => setVarySeeds(e.target.checked)} data-testid="sweep-vary-seeds" /> vary seeds
        </label>
        <fieldset>
          <legend>axes</legend>
          {axes.map((a, i) => (
            <div className="sweep-axis" key={i} data-testid={`sweep-axis-${i}`}>
              <strong>{labelOf(a)}</strong>{" "}
              <select value={a.kind} onChange={(e) => setAxis(i, { kind: e.target.value as AxisDraft["kind"] })} aria-label="values from">
                <option value="list">list</option>
                {a.type === "INT" || a.type === "FLOAT" ? <option value="range">range</option> : null}
              </select>{" "}
              {a.kind === "list" ? (
                <textarea
                  rows={a.type === "STRING" ? 3 : 1}
                  value={a.list}
                  placeholder={a.type === "STRING" || a.type === "COMBO" ? "one value per line" : "1, 2, 3"}
                  onChange={(e) => setAxis(i, { list: e.target.value })}
                  data-testid={`sweep-values-${i}`}
                />
              ) : (
                <>
                  <input aria-label="start" placeholder="start" value={a.start} onChange={(e) => setAxis(i, { start: e.target.value })} data-testid={`sweep-start-${i}`} />
                  <input aria-label="stop" placeholder="stop" value={a.stop} onChange={(e) => setAxis(i, { stop: e.target.value })} data-testid={`sweep-stop-${i}`} />
                  <input aria-label="step" placeholder="step" value={a.step} onChange={(e) => setAxis(i, { step: e.target.value })} data-testid={`sweep-step-${i}`} />
                </>
              )}{" "}
              <button type="button" onClick={() => setAxes((x) => x.filter((_, k) => k !== i))}>
                ✕
              </button>
            </div>
          ))}
          {choices.length ? (
            <select value="" onChange={(e) => addAxis(e.target.value)} aria-label="add an axis" data-testid="sweep-add-axis">
              <option value="">+ axis over…</option>
              {choices.map((c) => (
                <option key={c.key} value={c.key}>
                  {c.node.title} · {c.param.label || c.param.id}
                </option>
              ))}
            </select>
          ) : (
            <p className="muted small">No exposed parameters to sweep.</p>
          )}
          {axes.length > 1 ? (
            <label>
              {" "}
              <select value={mode} onChange={(e) => setMode(e.target.value as "grid" | "zip")} aria-label="mode" data-testid="sweep-mode">
                <option value="grid">grid (every combination)</option>
                <option value="zip">zip (pair the axes)</option>
              </select>
            </label>
          ) : null}
        </fieldset>
        <p data-testid="sweep-count">{built.error ? <span className="error">{built.error}</span> : `${built.items} item${built.items === 1 ? "" : "s"}`}</p>
        <footer>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="primary" disabled={!built.sweep} onClick={() => void start()} data-testid="sweep-start">
            ▶ Start {built.items || ""}
          </button>
        </footer>
      </div>
    </div>
  );
}
