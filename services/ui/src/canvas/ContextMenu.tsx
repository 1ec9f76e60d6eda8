/** Right-click menu of a workflow node: rename, duplicate, delete, pin to a server, run (×N / sweep), edit. */
import { useEffect } from "react";
import { useLive } from "../live/LiveProvider";
import { useWorkspace } from "../project/WorkspaceProvider";
import { useCanvasUi } from "./CanvasUi";

export interface ContextMenuProps {
  nodeId: string;
  x: number;
  y: number;
  onClose: () => void;
  onRename: (id: string) => void;
  onPicker: (id: string) => void;
  onEditor: (id: string) => void;
}

export function ContextMenu({ nodeId, x, y, onClose, onRename, onPicker, onEditor }: ContextMenuProps) {
  const ws = useWorkspace();
  const live = useLive();
  const ui = useCanvasUi();
  const node = ws.project.doc.nodes.find((n) => n.id === nodeId);
  useEffect(() => {
    const close = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", close);
    return () => window.removeEventListener("keydown", close);
  }, [onClose]);
  if (!node) return null;
  const act = (f: () => void) => () => {
    f();
    onClose();
  };
  const pin = (backend: string | null) => ws.dispatch({ type: "updateNode", id: nodeId, patch: { pinned_backend: backend } });
  return (
    <div className="context-menu" style={{ left: x, top: y }} role="menu" data-testid="context-menu">
      <button role="menuitem" onClick={act(() => void ws.run([nodeId]))}>Run</button>
      <button role="menuitem" onClick={act(() => ui.openSweep(nodeId))}>Run ×N / sweep…</button>
      <button role="menuitem" onClick={act(() => onRename(nodeId))}>Rename <kbd>F2</kbd></button>
      <button role="menuitem" onClick={act(() => ws.dispatch({ type: "duplicateNode", id: nodeId }))}>
        Duplicate <kbd>Ctrl+D</kbd>
      </button>
      <button role="menuitem" onClick={act(() => onPicker(nodeId))}>Parameters…</button>
      <button role="menuitem" onClick={act(() => onEditor(nodeId))}>Edit internals</button>
      <div className="menu-label">Pin to server</div>
      <button role="menuitem" className={node.pinned_backend === null ? "checked" : ""} onClick={act(() => pin(null))}>
        any server
      </button>
      {Object.values(live.state.backends).map((b) => (
        <button
          key={b.id}
          role="menuitem"
          data-testid={`pin-${b.id}`}
          className={node.pinned_backend === b.id ? "checked" : ""}
          onClick={act(() => pin(b.id))}
        >
          {b.id} <small>{b.status}</small>
        </button>
      ))}
      <button role="menuitem" className="danger" onClick={act(() => ws.dispatch({ type: "removeNodes", ids: [nodeId] }))}>
        Delete <kbd>Del</kbd>
      </button>
    </div>
  );
}
