/** Node types of the canvas, declared once outside any component so React Flow never re-mounts nodes. */
import type { NodeTypes } from "@xyflow/react";
import { WorkflowNode } from "./nodes/WorkflowNode";

export const nodeTypes: NodeTypes = { workflow: WorkflowNode };
