/** The application shell: top bar, fleet panel, canvas, and the job log / gallery drawer. */
import { ReactFlowProvider } from "@xyflow/react";
import { useCallback, useEffect, useState } from "react";
import { AddWorkflowDialog, type AddSource } from "./canvas/AddWorkflowDialog";
import { Canvas } from "./canvas/Canvas";
import { EditInternals } from "./edit/EditInternals";
import { FleetPanel } from "./fleet/FleetPanel";
import { LiveProvider } from "./live/LiveProvider";
import { ProjectBar } from "./project/ProjectBar";
import { WorkspaceProvider } from "./project/WorkspaceProvider";
import { Gallery } from "./run/Gallery";
import { JobLog } from "./run/JobLog";
import { RunPanel } from "./run/RunPanel";
import { SweepDialog } from "./run/SweepDialog";

export const PANELS_KEY = "orch.panels";

interface Panels {
  fleet: boolean;
  drawer: "log" | "gallery" | "runs" | null;
  editing: string | null;
}

function loadPanels(): Panels {
  try {
    return { fleet: true, drawer: "log", editing: null, ...JSON.parse(localStorage.getItem(PANELS_KEY) ?? "{}") };
  } catch {
    return { fleet: true, drawer: "log", editing: null };
  }
}

function Shell() {
  const [panels, setPanels] = useState<Panels>(loadPanels);
  const [adding, setAdding] = useState<AddSource | null>(null);
  const [sweeping, setSweeping] = useState<string[] | "all" | null>(null);
  const openSweep = useCallback((nodeId: string) => setSweeping([nodeId]), []);
  useEffect(() => localStorage.setItem(PANELS_KEY, JSON.stringify(panels)), [panels]);
  const openEditor = useCallback((nodeId: string) => setPanels((p) => ({ ...p, editing: nodeId })), []);
  const drawer = (d: Panels["drawer"]) => setPanels((p) => ({ ...p, drawer: p.drawer === d ? null : d }));
  return (
    <div className={`app${panels.fleet ? " with-fleet" : ""}${panels.drawer ? " with-drawer" : ""}`}>
      <ProjectBar onAdd={setAdding} onSweep={setSweeping} />
      <nav className="sidetabs">
        <button type="button" className={panels.fleet ? "active" : ""} onClick={() => setPanels((p) => ({ ...p, fleet: !p.fleet }))} data-testid="toggle-fleet">
          Fleet
        </button>
        <button type="button" className={panels.drawer === "log" ? "active" : ""} onClick={() => drawer("log")} data-testid="toggle-log">
          Jobs
        </button>
        <button type="button" className={panels.drawer === "gallery" ? "active" : ""} onClick={() => drawer("gallery")} data-testid="toggle-gallery">
          Gallery
        </button>
        <button type="button" className={panels.drawer === "runs" ? "active" : ""} onClick={() => drawer("runs")} data-testid="toggle-runs">
          Runs
        </button>
      </nav>
      {panels.fleet ? (
        <aside className="fleet-aside">
          <FleetPanel />
        </aside>
      ) : null}
      <main className="main">
        <Canvas onOpenEditor={openEditor} onOpenSweep={openSweep} />
      </main>
      {panels.drawer ? <section className="drawer">{panels.drawer === "log" ? <JobLog /> : panels.drawer === "runs" ? <RunPanel /> : <Gallery />}</section> : null}
      {sweeping ? <SweepDialog nodeIds={sweeping} onClose={() => setSweeping(null)} /> : null}
      {adding ? <AddWorkflowDialog source={adding} onClose={() => setAdding(null)} /> : null}
      {panels.editing ? <EditInternals nodeId={panels.editing} onClose={() => setPanels((p) => ({ ...p, editing: null }))} /> : null}
    </div>
  );
}

export function App() {
  return (
    <LiveProvider>
      <WorkspaceProvider>
        <ReactFlowProvider>
          <Shell />
        </ReactFlowProvider>
      </WorkspaceProvider>
    </LiveProvider>
  );
}
