/** Canvas-wide UI state the node components reach for: renaming, the parameter picker, the editor, menus. */
import { createContext, useContext } from "react";

export interface CanvasUi {
  renamingId: string | null;
  setRenamingId: (id: string | null) => void;
  openPicker: (nodeId: string) => void;
  openEditor: (nodeId: string) => void;
  openSweep: (nodeId: string) => void;
  openMenu: (nodeId: string, x: number, y: number) => void;
}

export const CanvasUiContext = createContext<CanvasUi>({
  renamingId: null,
  setRenamingId: () => {},
  openPicker: () => {},
  openEditor: () => {},
  openSweep: () => {},
  openMenu: () => {},
});

export const useCanvasUi = () => useContext(CanvasUiContext);
