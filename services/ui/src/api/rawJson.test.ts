import { describe, expect, it } from "vitest";
import { parseInteger, parseJson, stringifyJson } from "./rawJson";

describe("raw JSON", () => {
  it("keeps a seed beyond 2^53 exact through parse and stringify", () => {
    const text = '{"3":{"inputs":{"seed":18446744073709551615,"cfg":7.5,"steps":20}}}';
    const parsed = parseJson(text) as { "3": { inputs: { seed: unknown } } };
    expect(parsed["3"].inputs.seed).toBe(18446744073709551615n);
    expect(stringifyJson(parsed)).toBe(text);
  });

  it("reads small integers as plain numbers", () => {
    expect(parseJson("[1, -2, 9007199254740991]")).toEqual([1, -2, 9007199254740991]);
    expect(parseJson("9007199254740993")).toBe(9007199254740993n);
  });

  it("reads strings with escapes, nested values and the literals", () => {
    expect(parseJson('{"a":"x\\"y\\u00e9","b":[true,false,null],"c":{}}')).toEqual({
      a: 'x"yé',
      b: [true, false, null],
      c: {},
    });
  });

  it("names the position of a syntax error", () => {
    expect(() => parseJson('{"a": }')).toThrow(/position 6/);
    expect(() => parseJson("[1] x")).toThrow(/trailing/);
  });

  it("turns typed text into an exact integer or refuses it", () => {
    expect(parseInteger("42")).toBe(42);
    expect(parseInteger("123456789012345678901234567890")).toBe(123456789012345678901234567890n);
    expect(parseInteger("4.2")).toBeNull();
    expect(parseInteger("")).toBeNull();
  });

  it("writes indented output that JSON.parse accepts", () => {
    const v = { a: [1, { b: "c" }], d: undefined };
    expect(JSON.parse(stringifyJson(v, 2))).toEqual({ a: [1, { b: "c" }] });
  });
});
