/** The React Flow canvas of the project: nodes, typed edges, drag & drop of workflow files, shortcuts. */
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
  type Viewport,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { newId } from "../project/document";
import { toCanvasEdges, toCanvasNodes, selectedNodeIds } from "../project/projectReducer";
import { useWorkspace } from "../project/WorkspaceProvider";
import { CanvasUiContext, type CanvasUi } from "./CanvasUi";
import { ContextMenu } from "./ContextMenu";
import { nodeTypes } from "./nodeTypes";
import { readWorkflowFile } from "./workflowFile";
import { ParameterPicker } from "./ParameterPicker";
import { judgeConnection, portColour, portIndex } from "./ports";
import type { CanvasEdge, CanvasNode } from "./types";

export const VIEW_KEY = "orch.view";

export function Canvas({
  onOpenEditor,
  onOpenSweep,
}: {
  onOpenEditor: (nodeId: string) => void;
  onOpenSweep: (nodeId: string) => void;
}) {
  const ws = useWorkspace();
  const { project, dispatch } = ws;
  const flow = useReactFlow<CanvasNode, CanvasEdge>();
  const [renamingId, setRenamingId] = useState<string | null>(null);
  const [pickerFor, setPickerFor] = useState<string | null>(null);
  const [menu, setMenu] = useState<{ nodeId: string; x: number; y: number } | null>(null);
  const [hint, setHint] = useState<string | null>(null);

  const nodes = useMemo(() => toCanvasNodes(project), [project]);
  const edges = useMemo(
    () =>
      toCanvasEdges(project).map((e) => ({
        ...e,
        style: { stroke: portColour(e.data?.kind ?? ""), strokeWidth: 2 },
      })),
    [project],
  );
  const ports = useMemo(() => portIndex(project.inspections), [project.inspections]);

  const onNodesChange = useCallback((changes: NodeChange<CanvasNode>[]) => dispatch({ type: "nodeChanges", changes }), [dispatch]);
  const onEdgesChange = useCallback((changes: EdgeChange<CanvasEdge>[]) => dispatch({ type: "edgeChanges", changes }), [dispatch]);
  const isValidConnection = useCallback(
    (c: Connection | Edge) => judgeConnection(c, ports, project.doc.edges).ok,
    [ports, project.doc.edges],
  );
  const onConnect = useCallback(
    (c: Connection) => {
      const verdict = judgeConnection(c, ports, project.doc.edges);
      if (!verdict.ok) {
        setHint(verdict.reason);
        return;
      }
      dispatch({
        type: "addEdge",
        edge: {
          id: newId("e"),
          source: c.source,
          source_port: verdict.sourcePort,
          target: c.target,
          target_port: verdict.targetPort,
          kind: verdict.kind,
        },
      });
    },
    [ports, project.doc.edges, dispatch],
  );

  // Restore the viewport of this project once it is loaded: this browser's last one, else the saved one.
  useEffect(() => {
    let vp = project.doc.view?.viewport;
    try {
      const stored = JSON.parse(localStorage.getItem(VIEW_KEY) ?? "null") as { projectId: string | null; viewport: Viewport } | null;
      if (stored && stored.projectId === project.id) vp = stored.viewport;
    } catch {
      /* ignore a broken entry */
    }
    if (vp) void flow.setViewport(vp);
  }, [project.id, project.doc.nodes.length === 0]);

  // A workflow added from a menu may land outside the view: bring it into sight, keeping the zoom.
  const known = useRef<Set<string> | null>(null);
  useEffect(() => {
    const ids = project.doc.nodes.map((n) => n.id);
    const before = known.current;
    known.current = new Set(ids);
    if (before === null || ids.length !== before.size + 1) return;
    const added = project.doc.nodes.find((n) => !before.has(n.id));
    const pane = document.querySelector(".canvas .react-flow");
    if (!added || !pane) return;
    const { x, y, zoom } = flow.getViewport();
    const box = pane.getBoundingClientRect();
    const [nx, ny] = added.position;
    const inside = nx * zoom + x >= 0 && ny * zoom + y >= 0 && (nx + 380) * zoom + x <= box.width && (ny + 200) * zoom + y <= box.height;
    if (!inside) void flow.setCenter(nx + 190, ny + 200, { zoom });
  }, [project.doc.nodes, flow]);

  const onMoveEnd = useCallback(
    (_: unknown, viewport: Viewport) => {
      dispatch({ type: "setView", view: { viewport } });
      localStorage.setItem(VIEW_KEY, JSON.stringify({ projectId: project.id, viewport }));
    },
    [dispatch, project.id],
  );

  const onDrop = async (ev: DragEvent) => {
    ev.preventDefault();
    const files = Array.from(ev.dataTransfer.files);
    const at = flow.screenToFlowPosition({ x: ev.clientX, y: ev.clientY });
    for (const [i, file] of files.entries()) {
      try {
        const { workflow, title } = await readWorkflowFile(file);
        await ws.addWorkflow(workflow, title, { kind: "file", name: file.name }, [at.x + i * 40, at.y + i * 40]);
      } catch (e) {
        ws.runDispatch({ type: "log", text: (e as Error).message, level: "error" });
      }
    }
  };

  // Shortcuts: F2 rename, Ctrl/Cmd+D duplicate (Delete and Backspace are React Flow's own).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      if (target?.closest("iframe, .modal")) return;
      const selected = selectedNodeIds(project);
      if (e.key === "F2" && selected.length === 1) {
        e.preventDefault();
        setRenamingId(selected[0]);
      } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "d" && selected.length) {
        e.preventDefault();
        for (const id of selected) dispatch({ type: "duplicateNode", id });
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [project, dispatch]);

  const canvasUi: CanvasUi = useMemo(
    () => ({
      renamingId,
      setRenamingId,
      openPicker: setPickerFor,
      openEditor: onOpenEditor,
      openSweep: onOpenSweep,
      openMenu: (nodeId, x, y) => setMenu({ nodeId, x, y }),
    }),
    [renamingId, onOpenEditor, onOpenSweep],
  );

  return (
    <CanvasUiContext.Provider value={canvasUi}>
      <div className="canvas" data-testid="canvas" onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
        <ReactFlow<CanvasNode, CanvasEdge>
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          onNodesChange={onNodesChange}
          onEdgesChange={onEdgesChange}
          onConnect={onConnect}
          isValidConnection={isValidConnection}
          onMoveEnd={onMoveEnd}
          defaultViewport={project.doc.view?.viewport ?? { x: 0, y: 0, zoom: 0.9 }}
          deleteKeyCode={["Delete", "Backspace"]}
          minZoom={0.1}
          onPaneClick={() => setMenu(null)}
          proOptions={{ hideAttribution: true }}
        >
          <Background gap={24} />
          <Controls fitViewOptions={{ maxZoom: 1, padding: 0.1 }} />
          <MiniMap pannable zoomable />
        </ReactFlow>
        {project.doc.nodes.length === 0 ? (
          <div className="canvas-empty">Drop a ComfyUI workflow (UI or API JSON) here, or use “Add workflow”.</div>
        ) : null}
        {hint ? (
          <div className="hint" role="status" onClick={() => setHint(null)}>
            {hint}
          </div>
        ) : null}
        {menu ? <ContextMenu {...menu} onClose={() => setMenu(null)} onRename={setRenamingId} onPicker={setPickerFor} onEditor={onOpenEditor} /> : null}
        {pickerFor ? <ParameterPicker nodeId={pickerFor} onClose={() => setPickerFor(null)} /> : null}
      </div>
    </CanvasUiContext.Provider>
  );
}
