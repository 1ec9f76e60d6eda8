/**
 * The workspace: the project being edited (with autosave and reload restore), what this browser ran, and the
 * actions the canvas, menus and panels call. Read it with `useWorkspace()`.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from "react";
import { api, ApiError } from "../api/client";
import { parseJson, stringifyJson, type JsonObject } from "../api/rawJson";
import { runIsOver, type ProjectDocument, type ProjectNode, type RunView, type Sweep } from "../api/types";
import { useLive } from "../live/LiveProvider";
import { latestJobByNode, loadRuns, runReducer, saveRuns, type RunAction, type RunState } from "../run/runStore";
import { emptyProject, nodeFromInspection } from "./document";
import { documentFromWire } from "./exposed";
import {
  documentForSave,
  initialProjectState,
  projectReducer,
  selectedNodeIds,
  type ProjectAction,
  type ProjectState,
} from "./projectReducer";

export const PROJECT_ID_KEY = "orch.project.id";
export const DRAFT_KEY = "orch.project.draft";
const AUTOSAVE_MS = 1200;
const RUN_SAFETY_READ_MS = 15_000;
const RUN_MISSING_TRIES = 40;
const RUN_MISSING_WAIT_MS = 250;

export type SaveStatus = "saved" | "unsaved" | "saving" | "error";

export interface Workspace {
  project: ProjectState;
  dispatch: (a: ProjectAction) => void;
  runs: RunState;
  runDispatch: (a: RunAction) => void;
  latestByNode: Record<string, string>;
  saveStatus: SaveStatus;
  /** the server a node's uploads and inspections go to: its pin, else the first enabled one */
  backendFor: (node: ProjectNode | undefined) => string | null;
  addWorkflow: (workflow: JsonObject, title: string, source: JsonObject, position?: [number, number]) => Promise<void>;
  reinspect: (nodeId: string, workflow?: JsonObject) => Promise<void>;
  /** Save if needed, then start a scheduler run of these nodes (and the upstream ones they need), optionally swept. */
  run: (scope: "all" | "selection" | string[], sweep?: Sweep) => Promise<void>;
  cancelRun: (runId: string) => Promise<void>;
  retryItem: (runId: string, item: number) => Promise<void>;
  cancel: (jobId: string) => Promise<void>;
  rerun: (jobId: string) => Promise<void>;
  /** Save the project (a new version); resolves to its id, or null when the save failed. */
  save: () => Promise<string | null>;
  open: (id: string) => Promise<void>;
  /** Make version `n` the newest (the API records a restore as a new save) and show it. */
  restore: (n: number) => Promise<void>;
  newProject: () => void;
  importDocument: (doc: ProjectDocument) => void;
}

/** The first place on a 4-wide grid that no node occupies yet. */
export function freeSlot(taken: [number, number][]): [number, number] {
  for (let k = 0; ; k++) {
    const x = 80 + (k % 4) * 440;
    const y = 80 + Math.floor(k / 4) * 520;
    if (!taken.some(([tx, ty]) => Math.abs(tx - x) < 300 && Math.abs(ty - y) < 300)) return [x, y];
  }
}

const WorkspaceContext = createContext<Workspace | null>(null);

/**
 * The browser's copy of the open project, written on every change. On reload it wins over the API's copy when
 * it holds unsaved changes, or a save the API has acknowledged but not yet folded (a newer version number).
 */
export interface Draft {
  projectId: string | null;
  version: number;
  dirty: boolean;
  doc: ProjectDocument;
}

function readDraft(): Draft | null {
  try {
    const raw = localStorage.getItem(DRAFT_KEY);
    const draft = raw ? (parseJson(raw) as unknown as Draft) : null;
    return draft && draft.doc && draft.doc.format === "comfyui-orchestrator-project" ? draft : null;
  } catch {
    return null;
  }
}

/** Which copy a reload shows: the draft when it is ahead of the server's version of the same project. */
export function pickRestored(
  id: string | null,
  server: { doc: ProjectDocument; version: number } | null,
  draft: Draft | null,
): { doc: ProjectDocument; fromDraft: boolean; dirty: boolean } | null {
  const sameProject = draft !== null && draft.projectId === id;
  if (server && !(sameProject && (draft.dirty || draft.version > server.version))) {
    return { doc: server.doc, fromDraft: false, dirty: false };
  }
  if (sameProject) return { doc: draft.doc, fromDraft: true, dirty: draft.dirty };
  return server ? { doc: server.doc, fromDraft: false, dirty: false } : null;
}

export function WorkspaceProvider({ children }: { children: ReactNode }) {
  const live = useLive();
  const [project, dispatch] = useReducer(projectReducer, initialProjectState);
  const [runs, runDispatch] = useReducer(runReducer, undefined, () => loadRuns());
  const [saveStatus, setSaveStatus] = useState<SaveStatus>("saved");
  const projectRef = useRef(project);
  const versionRef = useRef(0); // the server's version of the open project, as far as this browser knows
  projectRef.current = project;
  const log = useCallback((text: string, level: "info" | "error" = "info") => runDispatch({ type: "log", text, level }), []);

  useEffect(() => saveRuns(runs), [runs.records]);
  const latestByNode = useMemo(() => latestJobByNode(runs.records), [runs.records]);

  const backendFor = useCallback(
    (node: ProjectNode | undefined) => {
      if (node?.pinned_backend) return node.pinned_backend;
      const enabled = Object.values(live.state.backends)
        .filter((b) => b.status === "online" || b.status === "busy")
        .sort((a, b) => a.id.localeCompare(b.id));
      return enabled[0]?.id ?? null;
    },
    [live.state.backends],
  );

  const reinspect = useCallback(
    async (nodeId: string, workflow?: JsonObject) => {
      const node = projectRef.current.doc.nodes.find((n) => n.id === nodeId);
      if (!node) return;
      try {
        const inspection = await api.inspect(workflow ?? node.workflow_ui ?? node.workflow_api, node.pinned_backend);
        dispatch({ type: "inspected", id: nodeId, inspection, reconcile: Boolean(workflow) });
      } catch (e) {
        log(`inspect ${node.title}: ${(e as Error).message}`, "error");
      }
    },
    [log],
  );

  /** Replace the open project; every load goes through here, so loadsRef counts as the store's `loads` does. */
  const loadsRef = useRef(initialProjectState.loads);
  const loadDoc = useCallback((id: string | null, doc: ProjectDocument) => {
    loadsRef.current += 1;
    dispatch({ type: "load", id, doc });
    setSaveStatus("saved");
  }, []);

  const load = useCallback(
    async (id: string | null, doc: ProjectDocument, version = 0, dirty = false) => {
      versionRef.current = version;
      loadDoc(id, doc);
      if (dirty) dispatch({ type: "touch" });
      if (id) localStorage.setItem(PROJECT_ID_KEY, id);
      await Promise.all(
        doc.nodes.map(async (n) => {
          try {
            const inspection = await api.inspect(n.workflow_ui ?? n.workflow_api, n.pinned_backend);
            dispatch({ type: "inspected", id: n.id, inspection });
          } catch (e) {
            log(`inspect ${n.title}: ${(e as Error).message}`, "error");
          }
        }),
      );
    },
    [log, loadDoc],
  );

  // Reload restore: the last project from the API (or the local draft), and the state of our recent jobs.
  useEffect(() => {
    const id = localStorage.getItem(PROJECT_ID_KEY);
    const restore = async () => {
      let server: { doc: ProjectDocument; version: number } | null = null;
      if (id) {
        try {
          server = await api.projectWithVersion(id);
        } catch (e) {
          log(`open project ${id}: ${(e as Error).message}`, "error");
        }
      }
      const draft = readDraft();
      const chosen = pickRestored(id, server, draft);
      if (!chosen) return;
      const version = chosen.fromDraft ? (draft?.version ?? 0) : (server?.version ?? 0);
      await load(id && (server || chosen.fromDraft) ? id : null, chosen.doc, version, chosen.dirty);
    };
    void restore();
    const recent = latestJobByNode(loadRuns().records);
    void Promise.all(
      Object.values(recent).map((jobId) =>
        api.job(jobId).then(
          (job) => live.dispatch({ type: "jobs", jobs: [job] }),
          () => undefined,
        ),
      ),
    );
  }, []);

  const save = useCallback(async (): Promise<string | null> => {
    const state = projectRef.current;
    const doc = documentForSave(state);
    const { revision, loads } = state;
    // the user may open or start another project while this save is on the wire: it then counts for nothing here
    const movedOn = () => loadsRef.current !== loads;
    setSaveStatus("saving");
    try {
      const { id, version } = state.id ? { ...(await api.saveProject(state.id, doc)), id: state.id } : await api.createProject(doc);
      if (movedOn()) return id;
      versionRef.current = version ?? (state.id ? versionRef.current + 1 : 1);
      if (!state.id) localStorage.setItem(PROJECT_ID_KEY, id);
      dispatch({ type: "saved", id, revision, loads });
      setSaveStatus("saved");
      return id;
    } catch (e) {
      if (movedOn()) return null;
      setSaveStatus("error");
      log(`save: ${(e as Error).message}`, "error");
      return null;
    }
  }, [log]);

  // Local draft on every change; debounced autosave to the API.
  useEffect(() => {
    if (project.revision === 0) return;
    try {
      const draft: Draft = {
        projectId: project.id,
        version: versionRef.current,
        dirty: project.revision > project.savedRevision,
        doc: documentForSave(project),
      };
      localStorage.setItem(DRAFT_KEY, stringifyJson(draft));
    } catch {
      /* quota */
    }
    if (project.revision <= project.savedRevision) return;
    setSaveStatus("unsaved");
    const t = setTimeout(() => void save(), AUTOSAVE_MS);
    return () => clearTimeout(t);
  }, [project.revision, project.savedRevision]);

  const addWorkflow = useCallback(
    async (workflow: JsonObject, title: string, source: JsonObject, position?: [number, number]) => {
      try {
        const inspection = await api.inspect(workflow);
        const pos = position ?? freeSlot(projectRef.current.doc.nodes.map((n) => n.position));
        const node = nodeFromInspection(inspection, workflow, title, pos, source);
        dispatch({ type: "addNode", node, inspection });
        log(`added ${title} (${inspection.format} format, ${inspection.parameters.length} parameters)`);
      } catch (e) {
        log(`add ${title}: ${(e as Error).message}`, "error");
      }
    },
    [log],
  );

  // Follow the scheduler's runs from the live stream (see run/runLive): each run job maps to its canvas node the
  // moment it is submitted and patches its run's view; a run is read over REST only for what the stream cannot say.
  const liveJobs = useRef(live.state.jobs);
  liveJobs.current = live.state.jobs;
  const runsRef = useRef(runs);
  runsRef.current = runs;
  useEffect(
    () =>
      live.subscribe((messages) =>
        runDispatch({ type: "live", messages, projectId: projectRef.current.id ?? localStorage.getItem(PROJECT_ID_KEY) }),
      ),
    [live.subscribe],
  );

  const liveDispatch = live.dispatch;
  const reading = useRef(new Set<string>()); // runs being read
  const again = useRef(new Set<string>()); // runs to read once more when their read ends
  const readRun = useCallback(
    async (runId: string): Promise<void> => {
      if (reading.current.has(runId)) {
        again.current.add(runId);
        return;
      }
      reading.current.add(runId);
      try {
        for (let missing = 0; ; ) {
          let view: RunView;
          try {
            view = await api.run(runId);
          } catch (e) {
            // a run just requested may not be folded by the scheduler yet: a 404 for a moment is expected
            if (!(e instanceof ApiError && e.status === 404) || ++missing > RUN_MISSING_TRIES) throw e;
            await new Promise((r) => setTimeout(r, RUN_MISSING_WAIT_MS));
            continue;
          }
          runDispatch({ type: "runs", runs: [view], live: liveJobs.current });
          // jobs of the run that ended before this page loaded are on no stream: read their states
          const unknown = (view.items ?? []).flatMap((it) => Object.values(it.nodes).flatMap((n) => n.jobs)).filter((j) => liveJobs.current[j] === undefined);
          await Promise.all(
            unknown.map((j) =>
              api.job(j).then(
                (job) => liveDispatch({ type: "jobs", jobs: [job] }),
                () => undefined,
              ),
            ),
          );
          return;
        }
      } catch (e) {
        log(`run ${runId}: ${(e as Error).message}`, "error");
      } finally {
        reading.current.delete(runId);
        if (again.current.delete(runId)) void readRun(runId);
      }
    },
    [liveDispatch, log],
  );
  useEffect(() => {
    if (!runs.refetch.length) return;
    const ids = runs.refetch;
    runDispatch({ type: "fetching", ids });
    for (const id of ids) void readRun(id);
  }, [runs.refetch, readRun]);
  // A slow safety read of the runs not over, in case the stream and the reads ever disagree.
  useEffect(() => {
    const t = setInterval(() => {
      for (const r of Object.values(runsRef.current.runs)) if (!runIsOver(r.state)) runDispatch({ type: "follow", runId: r.id });
    }, RUN_SAFETY_READ_MS);
    return () => clearInterval(t);
  }, []);
  const follow = useCallback((runId: string) => runDispatch({ type: "follow", runId }), []);

  /** Save the project if it changed (or was never saved) and return its id and version on the server. */
  const ensureSaved = useCallback(async (): Promise<{ id: string; version: number } | null> => {
    const state = projectRef.current;
    const dirty = !state.id || state.revision > state.savedRevision || versionRef.current === 0;
    const saved = dirty ? await save() : state.id;
    return saved ? { id: saved, version: versionRef.current } : null;
  }, [save]);

  const run = useCallback(
    async (scope: "all" | "selection" | string[], sweep?: Sweep) => {
      const state = projectRef.current;
      const ids =
        scope === "all" ? state.doc.nodes.map((n) => n.id) : scope === "selection" ? selectedNodeIds(state) : scope;
      if (!ids.length) {
        log("nothing to run: select a workflow or use Run all", "error");
        return;
      }
      try {
        const saved = await ensureSaved();
        if (!saved) throw new Error("the project could not be saved");
        const all = ids.length === state.doc.nodes.length;
        const { run_id } = await api.startRun(saved.id, {
          ...(all ? {} : { nodes: ids }),
          ...(sweep ? { sweep } : {}),
          ...(saved.version ? { version: saved.version } : {}),
        });
        log(`run ${run_id} started (${all ? "every workflow" : ids.length + " workflow(s)"}, version ${saved.version})`);
        follow(run_id);
      } catch (e) {
        log(`run: ${(e as Error).message}`, "error");
      }
    },
    [ensureSaved, follow, log],
  );

  const cancelRun = useCallback(
    async (runId: string) => {
      try {
        await api.cancelRun(runId);
        log(`cancel requested for run ${runId}`);
      } catch (e) {
        log(`cancel run ${runId}: ${(e as Error).message}`, "error");
      }
    },
    [log],
  );

  const retryItem = useCallback(
    async (runId: string, item: number) => {
      try {
        await api.retryRunItem(runId, item);
        log(`retrying item ${item} of run ${runId}`);
        follow(runId);
      } catch (e) {
        log(`retry ${runId} #${item}: ${(e as Error).message}`, "error");
      }
    },
    [follow, log],
  );

  const cancel = useCallback(
    async (jobId: string) => {
      try {
        await api.cancelJob(jobId);
        log(`cancel requested for ${jobId}`);
      } catch (e) {
        log(`cancel ${jobId}: ${(e as Error).message}`, "error");
      }
    },
    [log],
  );

  const rerun = useCallback(
    async (jobId: string) => {
      let record = runs.records.find((r) => r.jobId === jobId);
      try {
        if (!record || !Object.keys(record.prompt).length) {
          // Not submitted as a single job from this browser (another browser, or a run's job): the job's own submission event carries its prompt.
          const submitted = (await api.jobEvents(jobId)).find((e) => e.type === "job.submitted");
          if (!submitted || !submitted.workflow) throw new Error(`no submission recorded for job ${jobId}`);
          const labels = (submitted.labels ?? {}) as Record<string, string>;
          record = {
            jobId,
            nodeId: labels.canvas_node ?? "",
            projectId: labels.project ?? null,
            title: labels.canvas_title ?? jobId.slice(0, 10),
            values: {},
            prompt: submitted.workflow as JsonObject,
            backend: (submitted.pinned_backend as string | null) ?? null,
            submittedAt: Date.now(),
          };
        }
        const { id } = await api.submitJob(record.prompt, record.backend);
        runDispatch({ type: "submitted", record: { ...record, jobId: id, submittedAt: Date.now() } });
        log(`${record.title}: submitted job ${id} again`);
      } catch (e) {
        log(`run again: ${(e as Error).message}`, "error");
      }
    },
    [runs.records, log],
  );

  const open = useCallback(
    async (id: string) => {
      const { doc, version } = await api.projectWithVersion(id);
      await load(id, doc, version);
    },
    [load],
  );
  const restore = useCallback(
    async (n: number) => {
      const id = projectRef.current.id;
      if (!id) return;
      const { version } = await api.restoreProjectVersion(id, n);
      // The restored document is the old version's; read it directly rather than racing the new save's fold.
      await load(id, await api.projectVersion(id, n), version ?? 0);
      log(`restored version ${n}`);
    },
    [load, log],
  );
  const newProject = useCallback(() => {
    localStorage.removeItem(PROJECT_ID_KEY);
    loadDoc(null, emptyProject());
  }, [loadDoc]);
  const importDocument = useCallback((doc: ProjectDocument) => void load(null, documentFromWire(doc), 0, true), [load]);

  const value: Workspace = {
    project,
    dispatch,
    runs,
    runDispatch,
    latestByNode,
    saveStatus,
    backendFor,
    addWorkflow,
    reinspect,
    run,
    cancelRun,
    retryItem,
    cancel,
    rerun,
    save,
    open,
    restore,
    newProject,
    importDocument,
  };
  return <WorkspaceContext.Provider value={value}>{children}</WorkspaceContext.Provider>;
}

export function useWorkspace(): Workspace {
  const ctx = useContext(WorkspaceContext);
  if (!ctx) throw new Error("useWorkspace() outside <WorkspaceProvider>");
  return ctx;
}
