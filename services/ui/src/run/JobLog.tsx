/** The job log: this project's jobs with state, server, error, Cancel, their event history, and messages. */
import { Fragment, useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import { isTerminal, type JobEvent } from "../api/types";
import { useLive } from "../live/LiveProvider";
import { useWorkspace } from "../project/WorkspaceProvider";
import type { RunRecord } from "./runStore";

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

/** A run's job ids are `<run id>-<item>-<node>`: show the run's prefix and the item, not the shared run id. */
const shortJobId = (r: RunRecord) =>
  r.runId && r.jobId.startsWith(`${r.runId}-`) ? `${r.runId.slice(0, 8)}…${r.jobId.slice(r.runId.length).split("-").slice(0, 2).join("-")}` : r.jobId.slice(0, 10);

export function JobLog() {
  const ws = useWorkspace();
  const live = useLive();
  const [open, setOpen] = useState<string | null>(null);
  const nodeIds = new Set(ws.project.doc.nodes.map((n) => n.id));
  const titleOf = (r: RunRecord) => {
    const title = ws.project.doc.nodes.find((n) => n.id === r.nodeId)?.title ?? r.title;
    return r.runId ? `${title} · run ${r.runId.slice(0, 8)}` : title;
  };
  const records = ws.runs.records.filter((r) => nodeIds.has(r.nodeId)).slice(0, 50);
  // Jobs that ended before this page loaded are in no live snapshot: read their state once.
  const asked = useRef(new Set<string>());
  const unknown = records.filter((r) => !live.state.jobs[r.jobId] && !asked.current.has(r.jobId)).map((r) => r.jobId);
  useEffect(() => {
    for (const id of unknown) {
      asked.current.add(id);
      api.job(id).then(
        (job) => live.dispatch({ type: "jobs", jobs: [job] }),
        () => undefined,
      );
    }
  }, [unknown.join(",")]);
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
                  <td>{titleOf(r)}</td>
                  <td>
                    <button type="button" className="link" onClick={() => setOpen(open === r.jobId ? null : r.jobId)}>
                      {shortJobId(r)}
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
