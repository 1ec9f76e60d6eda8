/**
 * React context around the live store: the socket feeds it, components read it with `useLive()`, and stores of
 * their own (the runs the workspace follows) see every message batch through `subscribe`.
 */
import { createContext, useCallback, useContext, useEffect, useReducer, useRef, type Dispatch, type ReactNode } from "react";
import { api } from "../api/client";
import type { LiveMessage } from "../api/types";
import { connectLive } from "./socket";
import { initialLiveState, liveReducer, type LiveAction, type LiveState } from "./liveReducer";

export type LiveListener = (messages: LiveMessage[]) => void;

interface LiveContextValue {
  state: LiveState;
  dispatch: Dispatch<LiveAction>;
  /** Call `listener` with every batch of messages after the live store has folded it; returns the unsubscribe. */
  subscribe: (listener: LiveListener) => () => void;
}

/** At most this many jobs a snapshot left out are read back at once (the rest on the next snapshot). */
const RECHECK_BATCH = 50;

const LiveContext = createContext<LiveContextValue | null>(null);

export function LiveProvider({ children, connect = true }: { children: ReactNode; connect?: boolean }) {
  const [state, dispatch] = useReducer(liveReducer, initialLiveState);
  const listeners = useRef(new Set<LiveListener>());
  const subscribe = useCallback((listener: LiveListener) => {
    listeners.current.add(listener);
    return () => void listeners.current.delete(listener);
  }, []);
  useEffect(() => {
    if (!connect) return;
    const refreshBackends = () =>
      api
        .backends()
        .then((backends) => dispatch({ type: "backends", backends }))
        .catch(() => undefined);
    refreshBackends();
    const poll = setInterval(refreshBackends, 5_000);
    const close = connectLive({
      onBatch: (messages) => {
        dispatch({ type: "messages", messages });
        for (const listener of listeners.current) listener(messages);
      },
      onConnection: (connected) => {
        dispatch({ type: "connection", connected });
        if (connected) refreshBackends();
      },
    });
    return () => {
      clearInterval(poll);
      close();
    };
  }, [connect]);

  // Jobs that ended while the socket was down are not in the snapshot: read their end back.
  useEffect(() => {
    if (!connect || !state.recheck.length) return;
    const ids = state.recheck.slice(0, RECHECK_BATCH);
    void Promise.all(
      ids.map((id) =>
        api.job(id).then(
          (job) => dispatch({ type: "jobs", jobs: [job] }),
          () => undefined,
        ),
      ),
    ).then(() => dispatch({ type: "rechecked", ids }));
  }, [connect, state.recheck]);

  return <LiveContext.Provider value={{ state, dispatch, subscribe }}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveContextValue {
  const ctx = useContext(LiveContext);
  if (!ctx) throw new Error("useLive() outside <LiveProvider>");
  return ctx;
}
