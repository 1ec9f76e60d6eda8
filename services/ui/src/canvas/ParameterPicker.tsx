/** Choose which of a workflow's parameters the node exposes, grouped by the ComfyUI node they belong to. */
import { useMemo, useState } from "react";
import type { Parameter } from "../api/types";
import { useWorkspace } from "../project/WorkspaceProvider";

export function ParameterPicker({ nodeId, onClose }: { nodeId: string; onClose: () => void }) {
  const ws = useWorkspace();
  const node = ws.project.doc.nodes.find((n) => n.id === nodeId);
  const all = ws.project.inspections[nodeId]?.parameters ?? node?.exposed ?? [];
  const [chosen, setChosen] = useState(() => new Set(node?.exposed.map((p) => p.id) ?? []));
  const [filter, setFilter] = useState("");
  const groups = useMemo(() => {
    const g = new Map<string, Parameter[]>();
    const f = filter.toLowerCase();
    for (const p of all) {
      if (f && !`${p.label} ${p.node_title ?? ""} ${p.class_type} ${p.input}`.toLowerCase().includes(f)) continue;
      const key = `${p.node_title ?? p.class_type} (#${p.node_id})`;
      g.set(key, [...(g.get(key) ?? []), p]);
    }
    return [...g.entries()];
  }, [all, filter]);
  if (!node) return null;
  const toggle = (id: string) =>
    setChosen((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const apply = () => {
    const exposed = all.filter((p) => chosen.has(p.id));
    const values = Object.fromEntries(Object.entries(node.values).filter(([k]) => chosen.has(k)));
    ws.dispatch({ type: "updateNode", id: nodeId, patch: { exposed, values } });
    onClose();
  };
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal picker" role="dialog" aria-label="Parameters" data-testid="parameter-picker" onClick={(e) => e.stopPropagation()}>
        <header>
          <h3>Parameters of {node.title}</h3>
          <input placeholder="filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </header>
        <div className="picker-body">
          {groups.map(([group, params]) => (
            <fieldset key={group}>
              <legend>{group}</legend>
              {params.map((p) => (
                <label key={p.id} className={p.suggested ? "suggested" : undefined}>
                  <input type="checkbox" checked={chosen.has(p.id)} onChange={() => toggle(p.id)} data-testid={`pick-${p.id}`} />
                  {p.label} <small>{p.type}</small>
                </label>
              ))}
            </fieldset>
          ))}
          {all.length === 0 ? <p className="muted">This workflow has no tunable inputs (or it was not inspected yet).</p> : null}
        </div>
        <footer>
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="button" className="primary" onClick={apply} data-testid="picker-apply">Apply</button>
        </footer>
      </div>
    </div>
  );
}
