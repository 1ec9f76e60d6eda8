/** The canvas's typed node and edge unions (one node file per type under `nodes/`). */
import type { Edge, Node } from "@xyflow/react";
import type { Inspection, PortKind, ProjectNode } from "../api/types";

export type WorkflowNodeData = { node: ProjectNode; inspection?: Inspection };
export type WorkflowFlowNode = Node<WorkflowNodeData, "workflow">;

/** Every node type the canvas draws. */
export type CanvasNode = WorkflowFlowNode;

export type ArtifactEdgeData = { kind: PortKind };
export type CanvasEdge = Edge<ArtifactEdgeData>;
