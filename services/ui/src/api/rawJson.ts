/**
 * JSON that keeps integers exact beyond 2^53.
 *
 * `parseJson` turns integers outside Number's safe range into `bigint`; `stringifyJson` writes `bigint` as a bare
 * JSON number. Seeds therefore travel UI ⇄ API without ever passing through a lossy JS number.
 */

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export class JsonSyntaxError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at position ${position}`);
    this.name = "JsonSyntaxError";
  }
}

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const NUMBER_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Parse JSON text; integers that do not fit a double exactly become `bigint`. */
export function parseJson(text: string): JsonValue {
  let i = 0;
  const skip = () => {
    while (i < text.length && WHITESPACE.has(text[i])) i++;
  };
  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, i);
  };
  const value = (): JsonValue => {
    skip();
    const c = text[i];
    if (c === "{") {
      i++;
      const obj: JsonObject = {};
      skip();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        skip();
        if (text[i] !== '"') fail("expected a string key");
        const key = string();
        skip();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        obj[key] = value();
        skip();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const arr: JsonValue[] = [];
      skip();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        skip();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    if (text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    // Python's json module writes these for non-finite floats; accept them like it reads them.
    for (const [word, num] of [["NaN", NaN], ["Infinity", Infinity], ["-Infinity", -Infinity]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return num;
      }
    }
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (!m) return fail("unexpected character");
    i += m[0].length;
    const raw = m[0];
    if (/^-?\d+$/.test(raw)) {
      const n = Number(raw);
      if (!Number.isSafeInteger(n)) return BigInt(raw);
      return n;
    }
    return Number(raw);
  };
  const string = (): string => {
    const start = i;
    i++;
    let simple = true;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") {
        simple = false;
        i += 2;
      } else i++;
    }
    if (i >= text.length) fail("unterminated string");
    i++;
    const raw = text.slice(start, i);
    return simple ? raw.slice(1, -1) : (JSON.parse(raw) as string);
  };
  const result = value();
  skip();
  if (i !== text.length) fail("unexpected trailing text");
  return result;
}

/** Serialise like JSON.stringify, writing `bigint` as a bare number and skipping `undefined` members. */
export function stringifyJson(value: unknown, indent = 0): string {
  const pad = (depth: number) => (indent ? "\n" + " ".repeat(indent * depth) : "");
  const write = (v: unknown, depth: number): string | undefined => {
    if (v === null) return "null";
    switch (typeof v) {
      case "bigint":
        return v.toString();
      case "number":
        return Number.isFinite(v) ? JSON.stringify(v) : "null";
      case "boolean":
      case "string":
        return JSON.stringify(v);
      case "undefined":
      case "function":
      case "symbol":
        return undefined;
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      const items = v.map((x) => write(x, depth + 1) ?? "null");
      return "[" + items.map((s) => pad(depth + 1) + s).join(",") + pad(depth) + "]";
    }
    const obj = v as Record<string, unknown>;
    if (typeof (obj as { toJSON?: unknown }).toJSON === "function") {
      return write((obj as { toJSON: () => unknown }).toJSON(), depth);
    }
    const parts: string[] = [];
    for (const [k, x] of Object.entries(obj)) {
      const s = write(x, depth + 1);
      if (s !== undefined) parts.push(pad(depth + 1) + JSON.stringify(k) + (indent ? ": " : ":") + s);
    }
    return parts.length ? "{" + parts.join(",") + pad(depth) + "}" : "{}";
  };
  return write(value, 0) ?? "null";
}

/** An INT parameter's value as typed text → number when exact, bigint otherwise; null when not an integer. */
export function parseInteger(text: string): number | bigint | null {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) return null;
  const big = BigInt(t);
  const n = Number(t);
  return Number.isSafeInteger(n) && BigInt(n) === big ? n : big;
}

/** Exact comparison of INT values that may be number or bigint. */
export function compareIntegers(a: number | bigint, b: number | bigint): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
