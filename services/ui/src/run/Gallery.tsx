/** Past jobs with their outputs and the parameters they ran with; "Run again" resubmits the same prompt. */
import { useEffect, useState } from "react";
import { api } from "../api/client";
import { stringifyJson } from "../api/rawJson";
import type { Job } from "../api/types";
import { useLive } from "../live/LiveProvider";
import { useWorkspace } from "../project/WorkspaceProvider";

export function Gallery() {
  const ws = useWorkspace();
  const live = useLive();
  const [jobs, setJobs] = useState<Job[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.jobs().then(
      (list) => {
        setJobs(list);
        live.dispatch({ type: "jobs", jobs: list });
      },
      (e: Error) => setError(e.message),
    );
  }, [ws.runs.records.length]);
  const recordOf = new Map(ws.runs.records.map((r) => [r.jobId, r]));
  const ids = [...new Set([...ws.runs.records.map((r) => r.jobId), ...jobs.map((j) => j.id)])];
  return (
    <div className="gallery" data-testid="gallery">
      {error ? <div className="error">{error}</div> : null}
      {ids.slice(0, 60).map((id) => {
        const job = live.state.jobs[id];
        const record = recordOf.get(id);
        const image = job?.outputs.find((o) => o.content_type.startsWith("image/"));
        return (
          <figure key={id} className={`gallery-item state-${job?.state ?? "unknown"}`}>
            {image ? <img src={api.artifactUrl(image.artifact_id)} alt={image.filename} /> : <div className="placeholder">{job?.state ?? "…"}</div>}
            <figcaption>
              <strong>{(record && ws.project.doc.nodes.find((n) => n.id === record.nodeId)?.title) ?? record?.title ?? job?.labels.canvas_title ?? id.slice(0, 10)}</strong> <small>{job?.backend ?? ""}</small>
              {record ? (
                <details>
                  <summary>parameters</summary>
                  <pre>{stringifyJson(record.values, 1)}</pre>
                </details>
              ) : null}
              <button type="button" onClick={() => void ws.rerun(id)} data-testid={`rerun-${id}`}>
                Run again
              </button>
            </figcaption>
          </figure>
        );
      })}
      {ids.length === 0 ? <p className="muted">No jobs yet.</p> : null}
    </div>
  );
}
