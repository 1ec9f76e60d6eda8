/**
 * The `/api/live` websocket: reconnects with exponential backoff and hands messages over in batches (one per
 * animation frame), so a burst of progress ticks costs one render.
 */
import { parseJson } from "../api/rawJson";
import type { LiveMessage } from "../api/types";

export interface LiveSocketHandlers {
  onBatch: (messages: LiveMessage[]) => void;
  onConnection: (connected: boolean) => void;
}

export interface LiveSocketOptions {
  url?: string;
  minDelayMs?: number;
  maxDelayMs?: number;
}

export function liveUrl(loc: Location = window.location): string {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${loc.host}/api/live`;
}

/** Open the live socket; returns a function that closes it for good. */
export function connectLive(handlers: LiveSocketHandlers, options: LiveSocketOptions = {}): () => void {
  const minDelay = options.minDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 10_000;
  let delay = minDelay;
  let closed = false;
  let ws: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let buffer: LiveMessage[] = [];
  let flushScheduled = false;

  const flush = () => {
    flushScheduled = false;
    if (!buffer.length) return;
    const batch = buffer;
    buffer = [];
    handlers.onBatch(batch);
  };
  const scheduleFlush = () => {
    if (flushScheduled) return;
    flushScheduled = true;
    if (typeof requestAnimationFrame === "function" && document.visibilityState === "visible") {
      requestAnimationFrame(flush);
    } else setTimeout(flush, 100);
  };

  const open = () => {
    if (closed) return;
    ws = new WebSocket(options.url ?? liveUrl());
    ws.onopen = () => {
      delay = minDelay;
      handlers.onConnection(true);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      try {
        const msg = parseJson(ev.data) as unknown as LiveMessage;
        if (msg && typeof msg === "object" && "type" in msg) {
          buffer.push(msg);
          scheduleFlush();
        }
      } catch {
        /* a malformed message is skipped, never fatal */
      }
    };
    ws.onclose = () => {
      handlers.onConnection(false);
      ws = null;
      if (closed) return;
      timer = setTimeout(open, delay);
      delay = Math.min(maxDelay, delay * 2);
    };
    ws.onerror = () => ws?.close();
  };
  open();

  return () => {
    closed = true;
    if (timer) clearTimeout(timer);
    ws?.close();
  };
}
