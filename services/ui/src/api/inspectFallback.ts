/**
 * A minimal stand-in for the server's parameter and port inspection, used only when `/api/workflows/inspect`
 * answers without them (the server-side inspector is optional there). It reads the API prompt alone: literal
 * inputs become parameters, image loaders become input ports, image savers and previews output ports.
 */
import type { JsonObject, JsonValue } from "./rawJson";
import type { InputPort, OutputPort, Parameter, ParameterType } from "./types";

const SUGGESTED = /^(seed|noise_seed|steps|cfg|denoise|text|width|height|batch_size|image|ckpt_name|sampler_name|scheduler|filename_prefix)$/;
const IMAGE_LOADERS: Record<string, { input: string; kind: string }> = {
  LoadImage: { input: "image", kind: "IMAGE" },
  LoadImageMask: { input: "image", kind: "MASK" },
  LoadImageOutput: { input: "image", kind: "IMAGE" },
};
const OUTPUT_NODES: Record<string, string> = {
  SaveImage: "IMAGE",
  PreviewImage: "IMAGE",
  SaveAnimatedWEBP: "VIDEO",
  SaveAnimatedPNG: "VIDEO",
  SaveVideo: "VIDEO",
  SaveWEBM: "VIDEO",
  PreviewAny: "STRING",
  SaveLatent: "LATENT",
  PreviewMask: "MASK",
  SaveMask: "MASK",
};

const isLink = (v: JsonValue): boolean =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && (typeof v[1] === "number" || typeof v[1] === "bigint");

function typeOf(v: JsonValue): ParameterType | null {
  if (typeof v === "bigint") return "INT";
  if (typeof v === "number") return Number.isInteger(v) ? "INT" : "FLOAT";
  if (typeof v === "string") return "STRING";
  if (typeof v === "boolean") return "BOOLEAN";
  return null;
}

export function fallbackInspection(api: JsonObject): {
  parameters: Parameter[];
  ports: { inputs: InputPort[]; outputs: OutputPort[] };
} {
  const parameters: Parameter[] = [];
  const inputs: InputPort[] = [];
  const outputs: OutputPort[] = [];
  for (const [nodeId, raw] of Object.entries(api)) {
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) continue;
    const node = raw as JsonObject;
    const classType = String(node.class_type ?? "");
    const meta = node._meta as JsonObject | undefined;
    const title = typeof meta?.title === "string" ? meta.title : classType;
    const nodeInputs = (node.inputs ?? {}) as JsonObject;
    const loader = IMAGE_LOADERS[classType];
    for (const [input, value] of Object.entries(nodeInputs)) {
      if (isLink(value)) continue;
      const type = typeOf(value);
      if (!type) continue;
      const isImage = loader?.input === input;
      parameters.push({
        id: `${nodeId}.${input}`,
        node_id: nodeId,
        input,
        label: input,
        node_title: title,
        class_type: classType,
        type: isImage ? "COMBO" : type,
        value,
        multiline: type === "STRING" && (input === "text" || input.includes("prompt")),
        min: input.includes("seed") ? 0 : null,
        max: input.includes("seed") ? 18446744073709551615n : null,
        suggested: SUGGESTED.test(input),
        image_upload: isImage,
        choices: isImage ? [String(value)] : null,
      });
    }
    if (loader) inputs.push({ id: `${nodeId}.${loader.input}`, node_id: nodeId, input: loader.input, kind: loader.kind, label: title });
    if (OUTPUT_NODES[classType]) outputs.push({ id: nodeId, node_id: nodeId, kind: OUTPUT_NODES[classType], label: title });
  }
  return { parameters, ports: { inputs, outputs } };
}
