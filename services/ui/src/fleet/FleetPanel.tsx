/** The fleet: a card per backend, plus adding a server. */
import { useMemo, useState, type FormEvent } from "react";
import { api } from "../api/client";
import { useLive } from "../live/LiveProvider";
import { BackendCard } from "./BackendCard";
import { occupancy, runningByBackend } from "./occupancy";

const NO_HISTORY: never[] = [];

export function FleetPanel() {
  const { state } = useLive();
  const [error, setError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const backends = Object.values(state.backends).sort((a, b) => a.id.localeCompare(b.id));
  const running = useMemo(() => runningByBackend(state.jobs), [state.jobs]);
  const add = async (ev: FormEvent<HTMLFormElement>) => {
    ev.preventDefault();
    const form = new FormData(ev.currentTarget);
    try {
      await api.addBackend(String(form.get("id")), String(form.get("url")));
      setAdding(false);
      setError(null);
    } catch (e) {
      setError(`add server: ${(e as Error).message}`);
    }
  };
  return (
    <section className="fleet-panel" data-testid="fleet-panel" aria-label="Fleet">
      <div className="panel-title">
        <h2>Fleet</h2>
        <span className={state.connected ? "live-on" : "live-off"} data-testid="live-indicator">
          {state.connected ? "live" : "offline"}
        </span>
        <button type="button" onClick={() => setAdding((a) => !a)}>
          + Server
        </button>
      </div>
      {adding ? (
        <form className="add-backend" onSubmit={add}>
          <input name="id" placeholder="id" required />
          <input name="url" placeholder="http://host:8188" required />
          <button type="submit">Add</button>
        </form>
      ) : null}
      {error ? (
        <div className="error" role="alert" onClick={() => setError(null)}>
          {error}
        </div>
      ) : null}
      <div className="backend-list">
        {backends.length === 0 ? <p className="muted">No servers yet.</p> : null}
        {backends.map((b) => (
          <BackendCard
            key={b.id}
            backend={b}
            history={state.history[b.id] ?? NO_HISTORY}
            occupancy={occupancy(b, running[b.id], state.jobs)}
            onError={setError}
          />
        ))}
      </div>
    </section>
  );
}
