import type { Tool } from "@/features/annotate/viewer/types";

export interface Shortcut {
  keys: string;
  label: string;
}

/** View toggles (letters not used by tools or window presets). */
export const VIEW_KEYS = { uncertainty: "U", render3D: "R" } as const;

export const TOOL_KEYS: Record<Tool, string> = { navigate: "V", brush: "D", eraser: "E", fill: "F", smart: "G" };

export const SHORTCUTS: Shortcut[] = [
  { keys: "V / D / E / F / G", label: "Navigate / brush / eraser / fill outline / smart grow" },
  { keys: "1 – 9", label: "Choose structure" },
  { keys: "[ / ]", label: "Smaller / larger brush" },
  { keys: "L / S / B / A", label: "Window: lung / soft tissue / bone / auto" },
  { keys: "U", label: "Uncertainty heat map on / off (needs a model prediction)" },
  { keys: "R", label: "3D render on / off" },
  { keys: "PgUp / PgDn", label: "Next / previous axial slice" },
  { keys: "Arrows (on the image)", label: "Move the crosshair" },
  { keys: "Ctrl+Z / Ctrl+Shift+Z", label: "Undo / redo" },
  { keys: "Ctrl+S", label: "Save now" },
  { keys: "Ctrl+Enter", label: "Submit and open the next case" },
  { keys: "?", label: "Show / hide shortcuts" },
];
