/**
 * The typed HTTP client of the orchestrator API (same origin, relative URLs).
 *
 *   ApiError            — any non-2xx answer; `status` and the server's `detail`
 *
 * Responses are parsed with `parseJson` and requests written with `stringifyJson`, so big integers survive.
 */
import { parseJson, stringifyJson, type JsonObject, type JsonValue } from "./rawJson";
import { fallbackInspection } from "./inspectFallback";
import { documentFromWire, documentToWire } from "../project/exposed";
import type {
  Backend,
  InputPort,
  Parameter,
  Inspection,
  Job,
  JobEvent,
  ProjectDocument,
  ProjectSummary,
  ProjectVersion,
  RunView,
  SavedWorkflow,
  Sweep,
  TemplateEntry,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly url: string,
  ) {
    super(`${status} ${detail}`);
    this.name = "ApiError";
  }
}

function detailOf(body: string, statusText: string): string {
  try {
    const parsed = JSON.parse(body) as { detail?: unknown; error?: unknown };
    const d = parsed.detail ?? parsed.error;
    if (typeof d === "string") return d;
    if (d !== undefined) return JSON.stringify(d);
  } catch {
    /* not JSON */
  }
  return body.trim().slice(0, 300) || statusText;
}

export async function request<T = JsonValue>(method: string, url: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: {} };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = stringifyJson(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new ApiError(res.status, detailOf(text, res.statusText), url);
  if (!text) return undefined as T;
  return parseJson(text) as unknown as T;
}

const enc = encodeURIComponent;

/** Map the inspect answer onto `Inspection`, whatever the server's current field names. */
export function normaliseInspection(raw: JsonObject): Inspection {
  const apiPrompt = (raw.api ?? raw.workflow_api ?? {}) as JsonObject;
  const fallback = fallbackInspection(apiPrompt);
  const rawPorts = raw.ports as JsonValue;
  let ports = fallback.ports;
  if (rawPorts && typeof rawPorts === "object" && !Array.isArray(rawPorts) && "inputs" in rawPorts) {
    ports = rawPorts as unknown as Inspection["ports"];
  } else if (Array.isArray(rawPorts)) {
    const list = rawPorts as unknown as (InputPort & { direction?: string })[];
    ports = {
      inputs: list.filter((p) => p.direction === "input" || p.direction === "in"),
      outputs: list.filter((p) => p.direction === "output" || p.direction === "out"),
    };
  }
  const capability: Inspection["capability"] = {};
  for (const [id, c] of Object.entries((raw.capability ?? {}) as Record<string, JsonObject>)) {
    capability[id] = {
      ok: Boolean(c.ok ?? c.capable),
      missing_classes: (c.missing_classes ?? []) as string[],
      missing_values: (c.missing_values ?? []) as unknown[],
    };
  }
  return {
    format: raw.format === "ui" ? "ui" : "api",
    api: apiPrompt,
    parameters: Array.isArray(raw.parameters) ? (raw.parameters as unknown as Parameter[]) : fallback.parameters,
    ports,
    capability,
  };
}
const comfy = (backend: string, path: string) => `/backends/${enc(backend)}/comfy/${path}`;

export const api = {
  backends: () => request<Backend[]>("GET", "/api/backends"),
  disableBackend: (id: string) => request("POST", `/api/backends/${enc(id)}/disable`),
  enableBackend: (id: string) => request("POST", `/api/backends/${enc(id)}/enable`),
  addBackend: (id: string, comfyUrl: string) => request("POST", "/api/backends", { id, comfy_url: comfyUrl }),
  removeBackend: (id: string) => request("DELETE", `/api/backends/${enc(id)}`),

  submitJob: (workflow: JsonObject, backend?: string | null, labels?: Record<string, string>) =>
    request<{ id: string }>("POST", "/api/jobs", {
      workflow,
      ...(backend ? { backend } : {}),
      ...(labels ? { labels } : {}),
    }),
  jobs: () => request<Job[] | { jobs: Job[] }>("GET", "/api/jobs").then((r) => (Array.isArray(r) ? r : r.jobs)),
  job: (id: string) => request<Job>("GET", `/api/jobs/${enc(id)}`),
  jobEvents: (id: string) =>
    request<JobEvent[] | { events: JobEvent[] }>("GET", `/api/jobs/${enc(id)}/events`).then((r) =>
      Array.isArray(r) ? r : r.events,
    ),
  cancelJob: (id: string) => request("POST", `/api/jobs/${enc(id)}/cancel`),
  artifactUrl: (artifactId: string) => `/api/artifacts/${enc(artifactId)}`,

  inspect: async (workflow: JsonObject, backend?: string | null): Promise<Inspection> =>
    normaliseInspection(
      await request<JsonObject>("POST", "/api/workflows/inspect", { workflow, ...(backend ? { backend } : {}) }),
    ),

  projects: () =>
    request<ProjectSummary[] | { projects: ProjectSummary[] }>("GET", "/api/projects").then((r) =>
      Array.isArray(r) ? r : r.projects,
    ),
  createProject: (doc: ProjectDocument) =>
    request<{ id: string; version?: number }>("POST", "/api/projects", documentToWire(doc)),
  /** The latest document and its version number (0 when the server does not say). */
  projectWithVersion: (id: string) =>
    request<ProjectDocument | { document: ProjectDocument; version?: number }>("GET", `/api/projects/${enc(id)}`).then(
      (r) => ("document" in r ? { doc: documentFromWire(r.document), version: r.version ?? 0 } : { doc: documentFromWire(r), version: 0 }),
    ),
  project: (id: string) =>
    request<ProjectDocument | { document: ProjectDocument }>("GET", `/api/projects/${enc(id)}`).then((r) =>
      documentFromWire("document" in r ? r.document : r),
    ),
  /** One saved version's document (`?version=N`). */
  projectVersion: (id: string, n: number) =>
    request<ProjectDocument | { document: ProjectDocument }>("GET", `/api/projects/${enc(id)}?version=${n}`).then((r) =>
      documentFromWire("document" in r ? r.document : r),
    ),
  saveProject: (id: string, doc: ProjectDocument) =>
    request<{ id: string; version?: number }>("PUT", `/api/projects/${enc(id)}`, documentToWire(doc)),
  projectVersions: (id: string) =>
    request<ProjectVersion[] | { versions: ProjectVersion[] }>("GET", `/api/projects/${enc(id)}/versions`).then(
      (r) => (Array.isArray(r) ? r : r.versions),
    ),
  restoreProjectVersion: (id: string, n: number) =>
    request<{ id: string; version?: number }>("POST", `/api/projects/${enc(id)}/versions/${n}/restore`),
  renameProject: (id: string, name: string) => request("POST", `/api/projects/${enc(id)}/rename`, { name }),

  /** Start a run of a saved project: the scheduler chains its nodes and expands the sweep into items. */
  startRun: (projectId: string, body: { nodes?: string[]; sweep?: Sweep; version?: number }) =>
    request<{ run_id: string; items?: number }>("POST", `/api/projects/${enc(projectId)}/runs`, body),
  run: (runId: string) => request<RunView>("GET", `/api/runs/${enc(runId)}`),
  projectRuns: (projectId: string) =>
    request<{ runs: RunView[] }>("GET", `/api/projects/${enc(projectId)}/runs`).then((r) => r.runs),
  retryRunItem: (runId: string, item: number) => request("POST", `/api/runs/${enc(runId)}/items/${item}/retry`),
  cancelRun: (runId: string) => request("POST", `/api/runs/${enc(runId)}/cancel`),

  /** Saved workflows in a server's user storage (ComfyUI `/api/userdata?dir=workflows`). */
  savedWorkflows: async (backend: string): Promise<SavedWorkflow[]> => {
    let names: string[];
    try {
      names = await request<string[]>("GET", comfy(backend, "api/userdata?dir=workflows"));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return []; // ComfyUI's answer when nothing was saved yet
      throw e;
    }
    return names.filter((n) => n.endsWith(".json")).map((name) => ({ backend, name }));
  },
  savedWorkflow: (backend: string, name: string) =>
    request<JsonObject>("GET", comfy(backend, `api/userdata/${enc(`workflows/${name}`)}`)),

  /** The frontend's template index of a server (`templates/index.json`), flattened. */
  templates: async (backend: string): Promise<TemplateEntry[]> => {
    type Category = { moduleName?: string; templates?: { name: string; title?: string; description?: string }[] };
    const index = await request<Category[]>("GET", comfy(backend, "templates/index.json"));
    return index.flatMap((cat) =>
      (cat.templates ?? []).map((t) => ({
        backend,
        module: cat.moduleName ?? "default",
        name: t.name,
        title: t.title ?? t.name,
        description: t.description,
      })),
    );
  },
  template: (backend: string, entry: TemplateEntry) =>
    request<JsonObject>(
      "GET",
      entry.module === "default"
        ? comfy(backend, `templates/${enc(entry.name)}.json`)
        : comfy(backend, `api/workflow_templates/${enc(entry.module)}/${enc(entry.name)}.json`),
    ),

  /** Upload an image into a server's input folder (ComfyUI `/upload/image`); returns the name to put in LoadImage. */
  uploadImage: async (backend: string, file: File): Promise<string> => {
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("overwrite", "true");
    const r = await request<{ name: string; subfolder?: string }>("POST", comfy(backend, "api/upload/image"), form);
    return r.subfolder ? `${r.subfolder}/${r.name}` : r.name;
  },
  comfyViewUrl: (backend: string, filename: string) => {
    const slash = filename.lastIndexOf("/");
    const sub = slash >= 0 ? filename.slice(0, slash) : "";
    const name = slash >= 0 ? filename.slice(slash + 1) : filename;
    return comfy(backend, `api/view?filename=${enc(name)}&subfolder=${enc(sub)}&type=input`);
  },
};

export type Api = typeof api;
