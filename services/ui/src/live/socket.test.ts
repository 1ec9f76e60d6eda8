import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { LiveMessage } from "../api/types";
import { connectLive } from "./socket";

class FakeSocket {
  static all: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  close() {
    this.onclose?.();
  }
}

describe("live socket", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    vi.stubGlobal("WebSocket", FakeSocket);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("reconnects with a doubling delay and starts over after a successful open", () => {
    const connection: boolean[] = [];
    const stop = connectLive(
      { onBatch: () => {}, onConnection: (c) => connection.push(c) },
      { url: "ws://x/api/live", minDelayMs: 100, maxDelayMs: 1000 },
    );
    FakeSocket.all[0].close();
    vi.advanceTimersByTime(99);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.all[1].close();
    vi.advanceTimersByTime(199);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(3);
    FakeSocket.all[2].onopen!();
    FakeSocket.all[2].close();
    vi.advanceTimersByTime(100);
    expect(FakeSocket.all).toHaveLength(4);
    expect(connection).toEqual([false, false, true, false]);
    stop();
    vi.advanceTimersByTime(10_000);
    expect(FakeSocket.all).toHaveLength(4);
  });

  it("hands over messages in batches, keeps big integers, and skips malformed ones", () => {
    const batches: LiveMessage[][] = [];
    connectLive({ onBatch: (b) => batches.push(b), onConnection: () => {} }, { url: "ws://x/api/live" });
    const ws = FakeSocket.all[0];
    ws.onmessage!({ data: '{"type":"progress","job_id":"j","node_id":"3","value":1,"max":2}' });
    ws.onmessage!({ data: "not json" });
    ws.onmessage!({ data: '{"type":"job","job":{"id":"j","state":"running","seed":18446744073709551615}}' });
    vi.advanceTimersByTime(200);
    expect(batches).toHaveLength(1);
    expect(batches[0].map((m) => m.type)).toEqual(["progress", "job"]);
    expect((batches[0][1] as unknown as { job: { seed: bigint } }).job.seed).toBe(18446744073709551615n);
  });
});
