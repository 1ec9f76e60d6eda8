/** Reading a workflow file the user picked or dropped. */
import { parseJson, type JsonObject } from "../api/rawJson";

/** The file as a workflow (UI or API JSON, big integers kept); its name without `.json` becomes the title. */
export async function readWorkflowFile(file: File): Promise<{ workflow: JsonObject; title: string }> {
  let value;
  try {
    value = parseJson(await file.text());
  } catch (e) {
    throw new Error(`${file.name}: not JSON (${(e as Error).message})`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error(`${file.name}: not a JSON object`);
  return { workflow: value as JsonObject, title: file.name.replace(/\.json$/i, "") };
}
