/**
 * Batches and sweeps as the dialog edits them: axes over exposed parameters (a list of values, or a range with a
 * step), grid or zip, repeated N times — turned into the API's `sweep` and counted before anything starts.
 *
 *   SweepError — an axis that cannot be read (names the axis and what is wrong)
 */
import { parseJson, type JsonValue } from "../api/rawJson";
import type { ParameterType, Sweep, SweepAxis } from "../api/types";

export class SweepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SweepError";
  }
}

export interface AxisDraft {
  node: string;
  parameter: string;
  type: ParameterType;
  kind: "list" | "range";
  /** one value per line for text, else comma or newline separated */
  list: string;
  start: string;
  stop: string;
  step: string;
}

/** How many values a range gives: start, start+step, … up to and including stop (as the scheduler counts). */
export function rangeCount(start: number, stop: number, step: number): number {
  if (!(step > 0)) return 0;
  return Math.max(0, Math.floor((stop - start) / step + 1e-9) + 1);
}

function listValues(axis: AxisDraft): JsonValue[] {
  const textual = axis.type === "STRING" || axis.type === "COMBO";
  const parts = (textual ? axis.list.split("\n") : axis.list.split(/[,\n]/)).map((p) => p.trim()).filter(Boolean);
  if (!parts.length) throw new SweepError(`${axis.node} · ${axis.parameter}: no values`);
  if (textual) return parts;
  return parts.map((p) => {
    let v: JsonValue;
    try {
      v = parseJson(p);
    } catch {
      throw new SweepError(`${axis.node} · ${axis.parameter}: "${p}" is not a number`);
    }
    if (axis.type === "BOOLEAN" ? typeof v !== "boolean" : typeof v !== "number" && typeof v !== "bigint") {
      throw new SweepError(`${axis.node} · ${axis.parameter}: "${p}" is not a ${axis.type === "BOOLEAN" ? "boolean" : "number"}`);
    }
    return v;
  });
}

/** One dialog axis as the API's axis (and how many values it has). */
export function toAxis(axis: AxisDraft): { axis: SweepAxis; count: number } {
  if (!axis.node || !axis.parameter) throw new SweepError("an axis has no parameter chosen");
  if (axis.kind === "list") {
    const values = listValues(axis);
    return { axis: { node: axis.node, parameter: axis.parameter, values }, count: values.length };
  }
  const [start, stop, step] = [axis.start, axis.stop, axis.step].map(Number);
  if (![start, stop, step].every(Number.isFinite)) {
    throw new SweepError(`${axis.node} · ${axis.parameter}: start, stop and step must be numbers`);
  }
  if (!(step > 0)) throw new SweepError(`${axis.node} · ${axis.parameter}: the step must be above 0`);
  const count = rangeCount(start, stop, step);
  if (!count) throw new SweepError(`${axis.node} · ${axis.parameter}: the range is empty (stop below start)`);
  return { axis: { node: axis.node, parameter: axis.parameter, range: { start, stop, step } }, count };
}

/** The API's sweep and its item count; zip refuses axes of unequal length, as the scheduler would. */
export function buildSweep(
  axes: AxisDraft[],
  mode: "grid" | "zip",
  repeat: number,
  varySeeds: boolean,
): { sweep: Sweep; items: number } {
  if (!Number.isInteger(repeat) || repeat < 1) throw new SweepError("repeat must be a whole number of at least 1");
  const built = axes.map(toAxis);
  let combos = 1;
  if (mode === "zip" && built.length) {
    const lengths = new Set(built.map((b) => b.count));
    if (lengths.size > 1) throw new SweepError(`zip needs axes of equal length, got ${[...lengths].join(", ")}`);
    combos = built[0].count;
  } else {
    for (const b of built) combos *= b.count;
  }
  return { sweep: { axes: built.map((b) => b.axis), mode, repeat, vary_seeds: varySeeds }, items: combos * repeat };
}
