/**
 * Exposed parameters on the wire: a saved project holds the scheduler's `ExposedParameter`
 * (`{"id", "label", "address": {"node_id", "input"}, "type", "constraints": {…}, "default", "value"}`, see
 * docs/project-format.md), the canvas works with the inspector's flat `Parameter`. These convert at the
 * save / load boundary; a document saved by an older canvas (flat parameters) still reads.
 */
import type { JsonValue } from "../api/rawJson";
import type { Parameter, ParameterType, ProjectDocument, ProjectNode } from "../api/types";

export interface ExposedWire {
  id: string;
  label: string;
  address: { node_id: string; input: string };
  type: string;
  constraints: {
    min?: number | bigint | null;
    max?: number | bigint | null;
    step?: number | null;
    round?: number | boolean | null;
    choices?: string[] | null;
    multiline?: boolean;
    dynamic_prompts?: boolean;
    upload?: boolean;
  };
  default: JsonValue;
  value: JsonValue;
}

const drop = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as T;

export function exposedToWire(p: Parameter): ExposedWire {
  return {
    id: p.id,
    label: p.label,
    address: { node_id: p.node_id, input: p.input },
    type: p.type,
    constraints: drop({
      min: p.min,
      max: p.max,
      step: p.step,
      round: p.round,
      choices: p.choices,
      multiline: p.multiline || undefined,
      dynamic_prompts: p.dynamic_prompts || undefined,
      upload: p.image_upload || undefined,
    }),
    default: p.default ?? null,
    value: p.value ?? null,
  };
}

export function exposedFromWire(raw: ExposedWire | Parameter): Parameter {
  if (!("address" in raw) || !raw.address) return raw as Parameter;
  const c = raw.constraints ?? {};
  return drop({
    id: raw.id,
    node_id: raw.address.node_id,
    input: raw.address.input,
    label: raw.label,
    node_title: null,
    class_type: "",
    type: raw.type as ParameterType,
    value: raw.value,
    default: raw.default,
    min: c.min,
    max: c.max,
    step: c.step,
    round: c.round,
    choices: c.choices,
    multiline: c.multiline,
    dynamic_prompts: c.dynamic_prompts,
    image_upload: c.upload,
  }) as Parameter;
}

/** A document as the API stores it: exposed parameters in the scheduler's shape, no canvas-only fields. */
export function documentToWire(doc: ProjectDocument): ProjectDocument {
  return {
    ...doc,
    nodes: doc.nodes.map((n) => {
      const { ports: _ports, ...rest } = n;
      return { ...rest, exposed: n.exposed.map(exposedToWire) as unknown as Parameter[] };
    }),
  };
}

/** A document as the canvas edits it (flat parameters), whichever shape it was saved in. */
export function documentFromWire(doc: ProjectDocument): ProjectDocument {
  return {
    ...doc,
    nodes: (doc.nodes ?? []).map(
      (n): ProjectNode => ({ ...n, exposed: ((n.exposed ?? []) as unknown as (ExposedWire | Parameter)[]).map(exposedFromWire) }),
    ),
  };
}


