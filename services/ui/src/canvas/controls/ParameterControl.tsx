/**
 * A typed control for one exposed parameter: INT and FLOAT fields (with a slider where the range is known),
 * text areas for multiline prompts, selects for COMBO, toggles for BOOLEAN, and an image picker for image inputs.
 *
 * INT values stay exact: the field edits text, and a committed value is a number when it is a safe integer and a
 * bigint otherwise (`parseInteger`), so seeds beyond 2^53 are never rounded.
 */
import { memo, useEffect, useId, useState } from "react";
import { compareIntegers, parseInteger, type JsonValue } from "../../api/rawJson";
import type { Parameter } from "../../api/types";
import { ImagePicker } from "./ImagePicker";

export interface ParameterControlProps {
  param: Parameter;
  value: JsonValue;
  onChange: (value: JsonValue) => void;
  /** the server image thumbnails come from */
  backend?: string | null;
  /** the servers an uploaded image goes to (the job may run on any of them) */
  uploadTo?: string[];
}

const SLIDER_MAX_STEPS = 10_000;

export function isImageParameter(p: Parameter): boolean {
  return Boolean(p.image_upload) || (p.input === "image" && /LoadImage/.test(p.class_type));
}

function asInteger(v: unknown): number | bigint | null {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "string") return parseInteger(v);
  return null;
}

/** Why an INT text is refused, or null when it is a valid value. */
export function intProblem(text: string, p: Pick<Parameter, "min" | "max">): string | null {
  const n = parseInteger(text);
  if (n === null) return "not an integer";
  const min = asInteger(p.min);
  const max = asInteger(p.max);
  if (min !== null && compareIntegers(n, min) < 0) return `below the minimum ${min}`;
  if (max !== null && compareIntegers(n, max) > 0) return `above the maximum ${max}`;
  return null;
}

function randomSeed(max: number | bigint | null): bigint {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  const r = (BigInt(words[0]) << 32n) | BigInt(words[1]);
  const limit = max === null ? 0xffff_ffff_ffff_ffffn : BigInt(max);
  return limit > 0n ? r % (limit + 1n) : r;
}

function IntControl({ param, value, onChange, inputId }: ParameterControlProps & { inputId: string }) {
  const committed = value === null || value === undefined ? "" : String(value);
  const [text, setText] = useState(committed);
  useEffect(() => setText(committed), [committed]);
  const problem = intProblem(text, param);
  const min = asInteger(param.min);
  const max = asInteger(param.max);
  const slider =
    typeof min === "number" &&
    typeof max === "number" &&
    (max - min) / (param.step || 1) <= SLIDER_MAX_STEPS;
  const commit = (t: string) => {
    setText(t);
    if (intProblem(t, param) === null) onChange(parseInteger(t)!);
  };
  return (
    <div className="control-row">
      <input
        id={inputId}
        className={problem ? "invalid" : undefined}
        type="text"
        inputMode="numeric"
        value={text}
        title={problem ?? undefined}
        aria-invalid={problem ? true : undefined}
        data-testid={`param-${param.id}`}
        onChange={(e) => commit(e.target.value)}
      />
      {slider ? (
        <input
          type="range"
          aria-label={`${param.label} slider`}
          min={min as number}
          max={max as number}
          step={param.step || 1}
          value={Number(parseInteger(text) ?? min)}
          onChange={(e) => commit(e.target.value)}
        />
      ) : null}
      {/seed/i.test(param.input) ? (
        <button type="button" title="random seed" className="icon" onClick={() => commit(randomSeed(max).toString())}>
          ⟳
        </button>
      ) : null}
    </div>
  );
}

/** A float as people write it: 0.8700000000000001 shows as 0.87 (the value itself is unchanged until edited). */
export function floatText(value: unknown): string {
  if (typeof value === "number") return String(Number(value.toPrecision(12)));
  return value === null || value === undefined ? "" : String(value);
}

function FloatControl({ param, value, onChange, inputId }: ParameterControlProps & { inputId: string }) {
  const committed = floatText(value);
  const [text, setText] = useState(committed);
  useEffect(() => setText(committed), [committed]);
  const min = typeof param.min === "number" ? param.min : undefined;
  const max = typeof param.max === "number" ? param.max : undefined;
  const step = param.step ?? (typeof param.round === "number" ? param.round : 0.01);
  const n = Number(text);
  const invalid = text.trim() === "" || Number.isNaN(n) || (min !== undefined && n < min) || (max !== undefined && n > max);
  const commit = (t: string) => {
    setText(t);
    const v = Number(t);
    if (t.trim() !== "" && !Number.isNaN(v) && (min === undefined || v >= min) && (max === undefined || v <= max)) onChange(v);
  };
  const slider = min !== undefined && max !== undefined && (max - min) / (step || 0.01) <= SLIDER_MAX_STEPS;
  return (
    <div className="control-row">
      <input
        id={inputId}
        className={invalid ? "invalid" : undefined}
        type="number"
        min={min}
        max={max}
        step={step || "any"}
        value={text}
        data-testid={`param-${param.id}`}
        onChange={(e) => commit(e.target.value)}
      />
      {slider ? (
        <input
          type="range"
          aria-label={`${param.label} slider`}
          min={min}
          max={max}
          step={step || "any"}
          value={Number.isNaN(n) ? min : n}
          onChange={(e) => commit(e.target.value)}
        />
      ) : null}
    </div>
  );
}

export const ParameterControl = memo(function ParameterControl(props: ParameterControlProps) {
  const { param, value, onChange, backend, uploadTo } = props;
  const inputId = useId();
  let control;
  if (isImageParameter(param)) {
    control = (
      <ImagePicker
        inputId={inputId}
        testId={`param-${param.id}`}
        value={typeof value === "string" ? value : ""}
        choices={param.choices ?? []}
        backend={backend ?? null}
        uploadTo={uploadTo}
        onChange={onChange}
      />
    );
  } else
    switch (param.type) {
      case "INT":
        control = <IntControl {...props} inputId={inputId} />;
        break;
      case "FLOAT":
        control = <FloatControl {...props} inputId={inputId} />;
        break;
      case "BOOLEAN":
        control = (
          <label className="toggle">
            <input
              id={inputId}
              type="checkbox"
              role="switch"
              checked={value === true}
              data-testid={`param-${param.id}`}
              onChange={(e) => onChange(e.target.checked)}
            />
            <span>{value === true ? "on" : "off"}</span>
          </label>
        );
        break;
      case "COMBO": {
        const choices = param.choices ?? [];
        const current = value === null || value === undefined ? "" : String(value);
        control = (
          <select id={inputId} value={current} data-testid={`param-${param.id}`} onChange={(e) => onChange(e.target.value)}>
            {choices.includes(current) ? null : <option value={current}>{current || "—"}</option>}
            {choices.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        );
        break;
      }
      default:
        control = param.multiline ? (
          <textarea
            id={inputId}
            className="nodrag nowheel"
            rows={3}
            value={typeof value === "string" ? value : String(value ?? "")}
            data-testid={`param-${param.id}`}
            onChange={(e) => onChange(e.target.value)}
          />
        ) : (
          <input
            id={inputId}
            type="text"
            value={typeof value === "string" ? value : String(value ?? "")}
            data-testid={`param-${param.id}`}
            onChange={(e) => onChange(e.target.value)}
          />
        );
    }
  return (
    <div className={`param param-${param.type.toLowerCase()} nodrag`}>
      <label htmlFor={inputId} title={`${param.node_title ?? param.class_type} · ${param.input}`}>
        {param.label}
      </label>
      {control}
    </div>
  );
});
