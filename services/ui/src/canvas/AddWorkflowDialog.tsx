/** Add a workflow from a server: its saved workflows (user data) or its templates. */
import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { SavedWorkflow, TemplateEntry } from "../api/types";
import { useLive } from "../live/LiveProvider";
import { useWorkspace } from "../project/WorkspaceProvider";

export type AddSource = "saved" | "templates";

export function AddWorkflowDialog({ source, onClose }: { source: AddSource; onClose: () => void }) {
  const ws = useWorkspace();
  const live = useLive();
  const backends = Object.values(live.state.backends).filter((b) => b.status !== "offline");
  const [backend, setBackend] = useState<string>(backends[0]?.id ?? "");
  const [saved, setSaved] = useState<SavedWorkflow[]>([]);
  const [templates, setTemplates] = useState<TemplateEntry[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [filter, setFilter] = useState("");

  useEffect(() => {
    if (!backend) return;
    let current = true; // a slower answer for a server no longer selected must not overwrite the list
    setLoading(true);
    setError(null);
    const load =
      source === "saved"
        ? api.savedWorkflows(backend).then((list) => current && setSaved(list))
        : api.templates(backend).then((list) => current && setTemplates(list));
    load
      .catch((e: Error) => current && setError(e.message))
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
  }, [backend, source]);

  const add = async (title: string, fetchIt: () => Promise<import("../api/rawJson").JsonObject>, src: import("../api/rawJson").JsonObject) => {
    try {
      await ws.addWorkflow(await fetchIt(), title, src);
      onClose();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const f = filter.toLowerCase();
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal add-dialog" role="dialog" data-testid={`add-${source}`} onClick={(e) => e.stopPropagation()}>
        <header>
          <h3>{source === "saved" ? "Saved workflows" : "Templates"}</h3>
          <select value={backend} onChange={(e) => setBackend(e.target.value)} aria-label="server">
            {backends.map((b) => (
              <option key={b.id} value={b.id}>
                {b.id}
              </option>
            ))}
          </select>
          <input placeholder="filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </header>
        <div className="add-list">
          {loading ? <p className="muted">Loading…</p> : null}
          {error ? <div className="error">{error}</div> : null}
          {source === "saved"
            ? saved
                .filter((s) => s.name.toLowerCase().includes(f))
                .map((s) => (
                  <button
                    key={s.name}
                    type="button"
                    onClick={() =>
                      void add(s.name.replace(/\.json$/, ""), () => api.savedWorkflow(backend, s.name), {
                        kind: "server",
                        backend,
                        name: s.name,
                      })
                    }
                  >
                    {s.name}
                  </button>
                ))
            : templates
                .filter((t) => `${t.title} ${t.name}`.toLowerCase().includes(f))
                .map((t) => (
                  <button
                    key={`${t.module}/${t.name}`}
                    type="button"
                    title={t.description}
                    onClick={() =>
                      void add(t.title, () => api.template(backend, t), { kind: "template", backend, module: t.module, name: t.name })
                    }
                  >
                    <strong>{t.title}</strong> <small>{t.module === "default" ? "" : t.module}</small>
                  </button>
                ))}
          {!loading && !error && (source === "saved" ? saved : templates).length === 0 ? <p className="muted">Nothing here.</p> : null}
        </div>
        <footer>
          <button type="button" onClick={onClose}>Close</button>
        </footer>
      </div>
    </div>
  );
}
