import { describe, expect, it } from "vitest";
import { readWorkflowFile } from "./workflowFile";

describe("workflow files", () => {
  it("reads a workflow with its big seed exact and titles it by file name", async () => {
    const file = new File(['{"3":{"class_type":"KSampler","inputs":{"seed":18446744073709551615}}}'], "my flow.json");
    const { workflow, title } = await readWorkflowFile(file);
    expect(title).toBe("my flow");
    expect((workflow["3"] as { inputs: { seed: unknown } }).inputs.seed).toBe(18446744073709551615n);
  });

  it("names the file that is not a workflow", async () => {
    await expect(readWorkflowFile(new File(["[1]"], "list.json"))).rejects.toThrow("list.json: not a JSON object");
    await expect(readWorkflowFile(new File(["{oops"], "bad.json"))).rejects.toThrow(/bad.json: not JSON/);
  });
});
