import { describe, expect, it } from "vitest";
import { emptyProject } from "./document";
import { pickRestored, type Draft } from "./WorkspaceProvider";

const serverDoc = emptyProject("server");
const draftDoc = emptyProject("draft");
const draft = (over: Partial<Draft>): Draft => ({ projectId: "p", version: 3, dirty: false, doc: draftDoc, ...over });

describe("what a reload shows", () => {
  it("shows the server's copy when the draft is not ahead of it", () => {
    expect(pickRestored("p", { doc: serverDoc, version: 3 }, draft({}))?.doc).toBe(serverDoc);
  });

  it("shows the draft when it holds unsaved changes, and asks for a save", () => {
    expect(pickRestored("p", { doc: serverDoc, version: 3 }, draft({ dirty: true }))).toEqual({
      doc: draftDoc,
      fromDraft: true,
      dirty: true,
    });
  });

  it("shows the draft when the server has not folded our last save yet", () => {
    expect(pickRestored("p", { doc: serverDoc, version: 2 }, draft({}))?.doc).toBe(draftDoc);
  });

  it("ignores a draft of another project and falls back to the draft when the server is unreachable", () => {
    expect(pickRestored("p", { doc: serverDoc, version: 1 }, draft({ projectId: "q", version: 9 }))?.doc).toBe(serverDoc);
    expect(pickRestored("p", null, draft({}))?.doc).toBe(draftDoc);
    expect(pickRestored(null, null, draft({ projectId: null, dirty: true }))?.doc).toBe(draftDoc);
    expect(pickRestored(null, null, null)).toBeNull();
  });
});
