/** The job log: this project's jobs with state, server, error, Cancel, their event history, and messages. */
import { Fragment, useEffect, useState } from "react";
import { api } from "../api/client";
import { isTerminal, type JobEvent } from "../api/types";
import { useLive } from "../live/LiveProvider";
import { useWorkspace } from "../project/WorkspaceProvider";

function Events({ jobId }: { jobId: string }) {
  const [events, setEvents] = useState<JobEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.jobEvents(jobId).then(setEvents, (e: Error) => setError(e.message));
  }, [jobId]);
  if (error) return <div className="error small">{error}</div>;
  return (
    <ol className="events">
      {(events ?? []).map((e, i) => (
        <li key={i}>
          <small>{new Date(String(e.occurred_at ?? e.at ?? "")).toLocaleTimeString()}</small> <code>{e.type}</code>{" "}
          {[e.backend_id, e.reason, e.message].filter(Boolean).map(String).join(" · ")}
        </li>
      ))}
    </ol>
  );
}

export function JobLog() {
  const ws = useWorkspace();
  const live = useLive();
  const [open, setOpen] = useState<string | null>(null);
  const nodeIds = new Set(ws.project.doc.nodes.map((n) => n.id));
  const records = ws.runs.records.filter((r) => nodeIds.has(r.nodeId)).slice(0, 50);
  return (
    <div className="job-log" data-testid="job-log">
      <table>
        <thead>
          <tr>
            <th>Workflow</th>
            <th>Job</th>
            <th>State</th>
            <th>Server</th>
            <th>Progress</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {records.map((r) => {
            const job = live.state.jobs[r.jobId];
            const p = job?.progress;
            return (
              <Fragment key={r.jobId}>
                <tr className={`state-${job?.state ?? "unknown"}`} data-testid={`job-row-${r.jobId}`}>
                  <td>{r.title}</td>
                  <td>
                    <button type="button" className="link" onClick={() => setOpen(open === r.jobId ? null : r.jobId)}>
                      {r.jobId.slice(0, 10)}
                    </button>
                  </td>
                  <td>
                    <span className={`state-badge state-${job?.state ?? "unknown"}`}>{job?.state ?? "?"}</span>
                    {job?.error ? <span className="error small"> {job.error}</span> : null}
                  </td>
                  <td>{job?.backend ?? r.backend ?? "–"}</td>
                  <td>{p ? `${p.node_id ?? ""} ${p.value}/${p.max}` : ""}</td>
                  <td>
                    {job && !isTerminal(job.state) ? (
                      <button type="button" data-testid={`cancel-${r.jobId}`} onClick={() => void ws.cancel(r.jobId)}>
                        Cancel
                      </button>
                    ) : null}
                  </td>
                </tr>
                {open === r.jobId ? (
                  <tr>
                    <td colSpan={6}>
                      <Events jobId={r.jobId} />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            );
          })}
        </tbody>
      </table>
      <ul className="messages">
        {ws.runs.log
          .slice()
          .reverse()
          .map((m, i) => (
            <li key={i} className={m.level}>
              <small>{new Date(m.at).toLocaleTimeString()}</small> {m.text}
            </li>
          ))}
      </ul>
    </div>
  );
}
