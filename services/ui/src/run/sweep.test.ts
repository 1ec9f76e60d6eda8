import { describe, expect, it } from "vitest";
import { buildSweep, rangeCount, SweepError, type AxisDraft } from "./sweep";

const axis = (over: Partial<AxisDraft>): AxisDraft => ({
  node: "gen",
  parameter: "seed",
  type: "INT",
  kind: "list",
  list: "",
  start: "",
  stop: "",
  step: "",
  ...over,
});

describe("sweeps", () => {
  it("counts a range up to and including its stop, as the scheduler does", () => {
    expect(rangeCount(0, 1, 0.25)).toBe(5);
    expect(rangeCount(4, 8, 2)).toBe(3);
    expect(rangeCount(8, 4, 2)).toBe(0);
  });

  it("multiplies the axes of a grid and the repeats", () => {
    const { sweep, items } = buildSweep(
      [axis({ list: "1, 2, 3" }), axis({ parameter: "cfg", type: "FLOAT", kind: "range", start: "5", stop: "7", step: "1" })],
      "grid",
      2,
      true,
    );
    expect(items).toBe(3 * 3 * 2);
    expect(sweep.axes[0].values).toEqual([1, 2, 3]);
    expect(sweep.axes[1].range).toEqual({ start: 5, stop: 7, step: 1 });
  });

  it("pairs the axes of a zip and refuses unequal lengths", () => {
    expect(buildSweep([axis({ list: "1,2" }), axis({ parameter: "prompt", type: "STRING", list: "a cat\na dog" })], "zip", 1, false).items).toBe(2);
    expect(() => buildSweep([axis({ list: "1,2" }), axis({ parameter: "prompt", type: "STRING", list: "a cat" })], "zip", 1, false)).toThrow(SweepError);
  });

  it("keeps a list of prompts one per line, commas included, and a seed beyond 2^53 exact", () => {
    const { sweep } = buildSweep(
      [axis({ parameter: "prompt", type: "STRING", list: "a cat, sitting\n\na dog" }), axis({ list: "18446744073709551615" })],
      "grid",
      1,
      true,
    );
    expect(sweep.axes[0].values).toEqual(["a cat, sitting", "a dog"]);
    expect(sweep.axes[1].values).toEqual([18446744073709551615n]);
  });

  it("names the axis and the value it cannot read", () => {
    expect(() => buildSweep([axis({ list: "1, two" })], "grid", 1, true)).toThrow(/gen · seed: "two" is not a number/);
    expect(() => buildSweep([], "grid", 0, true)).toThrow(/repeat/);
  });

  it("is a plain batch of N when there are no axes", () => {
    expect(buildSweep([], "grid", 4, true).items).toBe(4);
  });
});
