/**
 * The scheduler's runs of the open project, newest first: each run's items with their swept values, every node's
 * state and output thumbnails; "retry" on a failed or cancelled item, "cancel" on a run that is not over.
 */
import { useEffect, useState } from "react";
import { api } from "../api/client";
import { stringifyJson } from "../api/rawJson";
import { runIsOver, type RunView } from "../api/types";
import { useWorkspace } from "../project/WorkspaceProvider";

/** The list is read on open and when a run of the project appears; this slow read catches anything else. */
const LIST_SAFETY_READ_MS = 15_000;

export function RunPanel() {
  const ws = useWorkspace();
  const projectId = ws.project.id;
  const [listed, setListed] = useState<RunView[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);

  // the runs the workspace follows (every run of the open project the live stream announced)
  const followed = Object.values(ws.runs.runs)
    .filter((r) => r.project_id === projectId)
    .map((r) => r.id)
    .sort()
    .join(",");
  useEffect(() => {
    if (!projectId) return;
    let alive = true;
    const refresh = () =>
      api.projectRuns(projectId).then(
        (runs) => alive && (setListed(runs), setError(null)),
        (e: Error) => alive && setError(e.message),
      );
    void refresh();
    const t = setInterval(refresh, LIST_SAFETY_READ_MS);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, [projectId, followed]);

  // The open run's items come from GET /api/runs/{id} (followed runs are kept fresh by the workspace).
  useEffect(() => {
    if (!open || ws.runs.runs[open]?.items) return;
    api.run(open).then(
      (view) => ws.runDispatch({ type: "runs", runs: [view] }),
      (e: Error) => setError(e.message),
    );
  }, [open]);

  const titleOf = (nodeId: string) => ws.project.doc.nodes.find((n) => n.id === nodeId)?.title ?? nodeId;
  const listedIds = new Set(listed.map((r) => r.id));
  const unlisted = Object.values(ws.runs.runs).filter((r) => r.project_id === projectId && !listedIds.has(r.id));
  const runs = [...unlisted, ...listed.map((r) => ws.runs.runs[r.id] ?? r)].sort((a, b) =>
    String(b.created_at ?? "").localeCompare(String(a.created_at ?? "")),
  );
  if (!projectId) return <p className="muted">Save the project to run it.</p>;
  return (
    <div className="run-panel" data-testid="run-panel">
      {error ? <div className="error small">{error}</div> : null}
      {runs.length === 0 ? <p className="muted">No runs yet.</p> : null}
      {runs.map((summary) => {
        const run = ws.runs.runs[summary.id] ?? summary;
        const counts = Object.entries(run.items_by_state ?? {})
          .filter(([, n]) => n)
          .map(([s, n]) => `${n} ${s}`)
          .join(" · ");
        return (
          <div key={run.id} className={`run state-${run.state}`} data-testid={`run-${run.id}`}>
            <header>
              <button type="button" className="link" onClick={() => setOpen(open === run.id ? null : run.id)}>
                {open === run.id ? "▾" : "▸"} run {run.id.slice(0, 8)}
              </button>{" "}
              <span className={`state-badge state-${run.state}`} data-testid={`run-state-${run.id}`}>
                {run.state}
              </span>{" "}
              <small>
                v{run.project_version} · {run.items_total} item{run.items_total === 1 ? "" : "s"} {counts ? `· ${counts}` : ""}
              </small>
              {!runIsOver(run.state) ? (
                <button type="button" onClick={() => void ws.cancelRun(run.id)} data-testid={`cancel-run-${run.id}`}>
                  Cancel run
                </button>
              ) : null}
              {run.error ? <span className="error small"> {typeof run.error === "string" ? run.error : stringifyJson(run.error as never)}</span> : null}
            </header>
            {open === run.id ? (
              <table className="run-items">
                <tbody>
                  {(run.items ?? []).map((item) => (
                    <tr key={item.item} className={`state-${item.state}`} data-testid={`run-item-${run.id}-${item.item}`}>
                      <td>#{item.item}</td>
                      <td className="small">
                        {item.values.map((v) => `${titleOf(v.node)}.${v.parameter}=${stringifyJson(v.value)}`).join(", ")}
                        {item.seed_offset ? ` seed+${item.seed_offset}` : ""}
                      </td>
                      <td>
                        {Object.entries(item.nodes).map(([nodeId, n]) => (
                          <span key={nodeId} className="run-node">
                            <span className={`state-badge state-${n.state}`}>
                              {titleOf(nodeId)}: {n.state}
                            </span>
                            {n.outputs
                              .filter((o) => o.content_type.startsWith("image/"))
                              .slice(0, 3)
                              .map((o) => (
                                <img key={o.artifact_id} className="run-thumb" src={api.artifactUrl(o.artifact_id)} alt={o.filename} />
                              ))}
                          </span>
                        ))}
                      </td>
                      <td>
                        {item.state === "failed" || item.state === "cancelled" ? (
                          <button type="button" onClick={() => void ws.retryItem(run.id, item.item)} data-testid={`retry-${run.id}-${item.item}`}>
                            Retry
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </div>
        );
      })}
    </div>
  );
}
