import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { stringifyJson, type JsonValue } from "../../api/rawJson";
import type { Parameter } from "../../api/types";
import { floatText, intProblem, ParameterControl } from "./ParameterControl";

const param = (over: Partial<Parameter>): Parameter => ({
  id: "3.seed",
  node_id: "3",
  input: "seed",
  label: "seed",
  node_title: "KSampler",
  class_type: "KSampler",
  type: "INT",
  value: 0,
  min: 0,
  max: 18446744073709551615n,
  step: 1,
  ...over,
});

describe("ParameterControl", () => {
  it("keeps a seed beyond 2^53 exact from typing to the JSON sent", () => {
    const onChange = vi.fn<(v: JsonValue) => void>();
    render(<ParameterControl param={param({})} value={0} onChange={onChange} />);
    fireEvent.change(screen.getByTestId("param-3.seed"), { target: { value: "18446744073709551615" } });
    const v = onChange.mock.calls.at(-1)![0];
    expect(v).toBe(18446744073709551615n);
    expect(stringifyJson({ seed: v })).toBe('{"seed":18446744073709551615}');
  });

  it("shows a big seed it was given digit for digit", () => {
    render(<ParameterControl param={param({})} value={9007199254740993n} onChange={() => {}} />);
    expect((screen.getByTestId("param-3.seed") as HTMLInputElement).value).toBe("9007199254740993");
  });

  it("refuses integers outside the range or not integers, and does not commit them", () => {
    const onChange = vi.fn();
    render(<ParameterControl param={param({ id: "3.steps", input: "steps", min: 1, max: 100 })} value={20} onChange={onChange} />);
    const field = screen.getByTestId("param-3.steps") as HTMLInputElement;
    fireEvent.change(field, { target: { value: "101" } });
    expect(field.getAttribute("aria-invalid")).toBe("true");
    fireEvent.change(field, { target: { value: "2.5" } });
    expect(onChange).not.toHaveBeenCalled();
    expect(intProblem("18446744073709551616", { min: 0, max: 18446744073709551615n })).toMatch(/above/);
  });

  it("draws a slider for a known small range but none for a seed", () => {
    const { container, unmount } = render(
      <ParameterControl param={param({ id: "3.steps", input: "steps", min: 1, max: 100 })} value={20} onChange={() => {}} />,
    );
    expect(container.querySelector('input[type="range"]')).not.toBeNull();
    unmount();
    const seed = render(<ParameterControl param={param({})} value={1} onChange={() => {}} />);
    expect(seed.container.querySelector('input[type="range"]')).toBeNull();
  });

  it("edits FLOAT within min and max", () => {
    const onChange = vi.fn();
    render(
      <ParameterControl param={param({ id: "3.cfg", input: "cfg", type: "FLOAT", min: 0, max: 100, step: 0.1 })} value={8} onChange={onChange} />,
    );
    fireEvent.change(screen.getByTestId("param-3.cfg"), { target: { value: "7.5" } });
    expect(onChange).toHaveBeenLastCalledWith(7.5);
    fireEvent.change(screen.getByTestId("param-3.cfg"), { target: { value: "-1" } });
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it("shows a float the way people write it", () => {
    expect(floatText(0.8700000000000001)).toBe("0.87");
    expect(floatText(7.5)).toBe("7.5");
  });

  it("uses a text area for multiline prompts, a select for COMBO and a toggle for BOOLEAN", () => {
    const onChange = vi.fn();
    render(
      <>
        <ParameterControl param={param({ id: "6.text", input: "text", type: "STRING", multiline: true })} value="a cat" onChange={onChange} />
        <ParameterControl param={param({ id: "3.sampler", input: "sampler_name", type: "COMBO", choices: ["euler", "dpmpp_2m"] })} value="euler" onChange={onChange} />
        <ParameterControl param={param({ id: "8.flag", input: "flag", type: "BOOLEAN" })} value={false} onChange={onChange} />
      </>,
    );
    expect(screen.getByTestId("param-6.text").tagName).toBe("TEXTAREA");
    fireEvent.change(screen.getByTestId("param-3.sampler"), { target: { value: "dpmpp_2m" } });
    expect(onChange).toHaveBeenLastCalledWith("dpmpp_2m");
    fireEvent.click(screen.getByTestId("param-8.flag"));
    expect(onChange).toHaveBeenLastCalledWith(true);
  });

  it("offers an image picker for a LoadImage input", () => {
    render(
      <ParameterControl
        param={param({ id: "10.image", node_id: "10", input: "image", class_type: "LoadImage", type: "COMBO", choices: ["a.png", "b.png"] })}
        value="a.png"
        backend="sim-1"
        onChange={() => {}}
      />,
    );
    expect(screen.getByText("Upload")).toBeTruthy();
    expect(screen.getByAltText("a.png").getAttribute("src")).toContain("/backends/sim-1/comfy/api/view?filename=a.png");
  });
});
