/** The top bar: project name, save state, open / versions / new / export / import, adding workflows, running. */
import { useRef, useState } from "react";
import { api } from "../api/client";
import { parseJson, stringifyJson, type JsonValue } from "../api/rawJson";
import type { ProjectDocument, ProjectSummary, ProjectVersion } from "../api/types";
import { readWorkflowFile } from "../canvas/workflowFile";
import type { AddSource } from "../canvas/AddWorkflowDialog";
import { documentToWire } from "./exposed";
import { documentForSave, selectedNodeIds } from "./projectReducer";
import { useWorkspace } from "./WorkspaceProvider";

type Menu = "open" | "versions" | null;

const formatWhen = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : "");

export function ProjectBar({ onAdd, onSweep }: { onAdd: (source: AddSource) => void; onSweep: (nodeIds: string[] | "all") => void }) {
  const ws = useWorkspace();
  const [menu, setMenu] = useState<Menu>(null);
  const [projects, setProjects] = useState<ProjectSummary[]>([]);
  const [versions, setVersions] = useState<ProjectVersion[]>([]);
  const [error, setError] = useState<string | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const importRef = useRef<HTMLInputElement>(null);
  const { project } = ws;
  const selected = selectedNodeIds(project);

  const show = async (m: Menu) => {
    setError(null);
    if (menu === m) return setMenu(null);
    setMenu(m);
    try {
      if (m === "open") setProjects(await api.projects());
      if (m === "versions" && project.id) setVersions(await api.projectVersions(project.id));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const rename = async (name: string) => {
    if (!name.trim() || name === project.doc.name) return;
    ws.dispatch({ type: "rename", name });
    if (project.id) await api.renameProject(project.id, name).catch((e: Error) => setError(e.message));
  };
  const addFiles = async (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) {
      try {
        const { workflow, title } = await readWorkflowFile(file);
        await ws.addWorkflow(workflow, title, { kind: "file", name: file.name });
      } catch (e) {
        ws.runDispatch({ type: "log", text: (e as Error).message, level: "error" });
      }
    }
  };
  const exportDoc = () => {
    const blob = new Blob([stringifyJson(documentToWire(documentForSave(project)) as unknown as JsonValue, 2)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${project.doc.name}.orch.json`;
    a.click();
    URL.revokeObjectURL(a.href);
  };
  const importDoc = async (file: File | undefined) => {
    if (!file) return;
    try {
      const doc = parseJson(await file.text()) as unknown as ProjectDocument;
      if (doc.format !== "comfyui-orchestrator-project") throw new Error(`${file.name} is not a project file`);
      ws.importDocument(doc);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <header className="topbar">
      <strong className="brand">Orchestrator</strong>
      <input
        key={project.doc.name}
        className="project-name"
        aria-label="project name"
        data-testid="project-name"
        defaultValue={project.doc.name}
        onBlur={(e) => void rename(e.target.value)}
        onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
      />
      <span className={`save-status ${ws.saveStatus}`} data-testid="save-status">
        {ws.saveStatus}
      </span>
      <button type="button" onClick={() => void ws.save()} data-testid="save-button">Save</button>
      <div className="menu-anchor">
        <button type="button" onClick={() => void show("open")}>Open…</button>
        {menu === "open" ? (
          <div className="dropdown" data-testid="project-list" onMouseLeave={() => setMenu(null)}>
            {projects.map((p) => (
              <button key={p.id} type="button" onClick={() => void ws.open(p.id).then(() => setMenu(null))}>
                {p.name} <small>{p.version ? `v${p.version}` : ""} {formatWhen(p.updated_at)}</small>
              </button>
            ))}
            {projects.length === 0 ? <p className="muted">No saved projects.</p> : null}
          </div>
        ) : null}
      </div>
      <div className="menu-anchor">
        <button type="button" disabled={!project.id} onClick={() => void show("versions")}>Versions</button>
        {menu === "versions" ? (
          <div className="dropdown" data-testid="version-list" onMouseLeave={() => setMenu(null)}>
            {[...versions].reverse().map((v) => (
              <button
                key={v.version}
                type="button"
                onClick={async () => {
                  try {
                    await ws.restore(v.version);
                    setMenu(null);
                  } catch (e) {
                    setError((e as Error).message);
                  }
                }}
              >
                v{v.version} <small>{formatWhen(v.saved_at ?? v.at)}</small> {v.restored_from ? <small>(from v{v.restored_from})</small> : null}
              </button>
            ))}
            {versions.length === 0 ? <p className="muted">No versions yet.</p> : null}
          </div>
        ) : null}
      </div>
      <button type="button" onClick={ws.newProject}>New</button>
      <button type="button" onClick={exportDoc}>Export</button>
      <button type="button" onClick={() => importRef.current?.click()}>Import</button>
      <input ref={importRef} type="file" accept=".json" hidden onChange={(e) => void importDoc(e.target.files?.[0])} />
      <span className="divider" />
      <span className="menu-label">Add workflow:</span>
      <button type="button" onClick={() => fileRef.current?.click()} data-testid="add-file">File…</button>
      <input
        ref={fileRef}
        type="file"
        accept=".json,application/json"
        multiple
        hidden
        data-testid="add-file-input"
        onChange={(e) => {
          void addFiles(e.target.files);
          e.target.value = "";
        }}
      />
      <button type="button" onClick={() => onAdd("saved")}>From server…</button>
      <button type="button" onClick={() => onAdd("templates")}>Templates…</button>
      <span className="spacer" />
      <button
        type="button"
        className="primary"
        data-testid="run-button"
        onClick={() => void ws.run(selected.length ? "selection" : "all")}
        title={selected.length ? "run the selected workflows" : "run every workflow"}
      >
        ▶ Run {selected.length ? `selection (${selected.length})` : "all"}
      </button>
      <button type="button" data-testid="sweep-button" onClick={() => onSweep(selected.length ? selected : "all")} title="repeat or sweep parameters">
        ×N / sweep…
      </button>
      {error ? (
        <div className="error topbar-error" role="alert" onClick={() => setError(null)}>
          {error}
        </div>
      ) : null}
    </header>
  );
}
