/** Typed ports: handle ids, colours by kind, and which connections are allowed. */
import type { Connection, Edge } from "@xyflow/react";
import type { Inspection, InputPort, OutputPort, PortKind, ProjectDocument } from "../api/types";

export const PORT_COLOURS: Record<string, string> = {
  IMAGE: "#4f8cff",
  MASK: "#2bb673",
  VIDEO: "#d9559b",
  LATENT: "#ff9c3a",
  STRING: "#b58cff",
  AUDIO: "#e5c13a",
};

export const portColour = (kind: PortKind): string => PORT_COLOURS[String(kind).toUpperCase()] ?? "#8a93a6";

export const inHandle = (portId: string) => `in:${portId}`;
export const outHandle = (portId: string) => `out:${portId}`;

export function portOfHandle(handle: string | null | undefined): { side: "in" | "out"; port: string } | null {
  if (!handle) return null;
  const colon = handle.indexOf(":");
  const side = handle.slice(0, colon);
  if (side !== "in" && side !== "out") return null;
  return { side, port: handle.slice(colon + 1) };
}

/** Which kinds an input accepts from an output: the same kind; a MASK also reads an IMAGE's channel. */
export function kindsCompatible(output: PortKind, input: PortKind): boolean {
  const o = String(output).toUpperCase();
  const i = String(input).toUpperCase();
  return o === i || (i === "MASK" && o === "IMAGE");
}

export type PortIndex = Record<string, { inputs: InputPort[]; outputs: OutputPort[] } | undefined>;

export function portIndex(inspections: Record<string, Inspection | undefined>): PortIndex {
  const out: PortIndex = {};
  for (const [id, ins] of Object.entries(inspections)) out[id] = ins?.ports;
  return out;
}

function reaches(edges: Pick<ProjectDocument, "edges">["edges"], from: string, to: string): boolean {
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length) {
    const id = stack.pop()!;
    if (id === to) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const e of edges) if (e.source === id) stack.push(e.target);
  }
  return false;
}

export type ConnectionVerdict = { ok: true; kind: PortKind; sourcePort: string; targetPort: string } | { ok: false; reason: string };

/** Judge a connection: output → input, same kind, no self-loop and no cycle. */
export function judgeConnection(
  conn: Connection | Edge,
  ports: PortIndex,
  edges: Pick<ProjectDocument, "edges">["edges"],
): ConnectionVerdict {
  const s = portOfHandle(conn.sourceHandle);
  const t = portOfHandle(conn.targetHandle);
  if (!s || !t || s.side !== "out" || t.side !== "in") return { ok: false, reason: "connect an output to an input" };
  if (conn.source === conn.target) return { ok: false, reason: "a workflow cannot feed itself" };
  const output = ports[conn.source]?.outputs.find((p) => p.id === s.port);
  const input = ports[conn.target]?.inputs.find((p) => p.id === t.port);
  if (!output || !input) return { ok: false, reason: "unknown port" };
  if (!kindsCompatible(output.kind, input.kind)) {
    return { ok: false, reason: `${output.kind} cannot feed ${input.kind}` };
  }
  if (reaches(edges, conn.target, conn.source)) return { ok: false, reason: "that would make a cycle" };
  return { ok: true, kind: output.kind, sourcePort: s.port, targetPort: t.port };
}
