/** React context around the live store: the socket feeds it, components read it with `useLive()`. */
import { createContext, useContext, useEffect, useReducer, type Dispatch, type ReactNode } from "react";
import { api } from "../api/client";
import { connectLive } from "./socket";
import { initialLiveState, liveReducer, type LiveAction, type LiveState } from "./liveReducer";

interface LiveContextValue {
  state: LiveState;
  dispatch: Dispatch<LiveAction>;
}

const LiveContext = createContext<LiveContextValue | null>(null);

export function LiveProvider({ children, connect = true }: { children: ReactNode; connect?: boolean }) {
  const [state, dispatch] = useReducer(liveReducer, initialLiveState);
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
      onBatch: (messages) => dispatch({ type: "messages", messages }),
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
  return <LiveContext.Provider value={{ state, dispatch }}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveContextValue {
  const ctx = useContext(LiveContext);
  if (!ctx) throw new Error("useLive() outside <LiveProvider>");
  return ctx;
}
