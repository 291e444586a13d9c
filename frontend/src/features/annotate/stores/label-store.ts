/**
 * The label being edited, in native (Z, Y, X) order: undo/redo of whole edits and the bounding
 * box of voxels changed since the last save (what autosave sends).
 */
import type { Edit } from "@/features/annotate/viewer/types";

export interface Box {
  z0: number; z1: number; y0: number; y1: number; x0: number; x1: number;
}

export class LabelStore {
  readonly data: Uint8Array;
  private undoStack: Edit[] = [];
  private redoStack: Edit[] = [];
  private dirtyBox: Box | null = null;
  private listeners: (() => void)[] = [];
  editsSinceSave = 0;

  constructor(readonly shape: [number, number, number], initial?: Uint8Array) {
    const n = shape[0] * shape[1] * shape[2];
    if (initial && initial.length !== n) throw new Error(`label has ${initial.length} voxels, volume has ${n}`);
    this.data = initial ?? new Uint8Array(n);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.push(fn);
    return () => (this.listeners = this.listeners.filter((f) => f !== fn));
  }

  private emit(): void {
    for (const f of this.listeners) f();
  }

  /** Record an edit the viewer made (its values are already on screen). */
  record(e: Edit): void {
    this.write(e.native, e.after);
    this.undoStack.push(e);
    if (this.undoStack.length > 100) this.undoStack.shift();
    this.redoStack = [];
    this.emit();
  }

  get canUndo(): boolean { return this.undoStack.length > 0; }
  get canRedo(): boolean { return this.redoStack.length > 0; }

  /** Revert the last edit; returns it so the viewer can show the old values. */
  undo(): Edit | null {
    const e = this.undoStack.pop();
    if (!e) return null;
    this.write(e.native, e.before);
    this.redoStack.push(e);
    this.emit();
    return e;
  }

  redo(): Edit | null {
    const e = this.redoStack.pop();
    if (!e) return null;
    this.write(e.native, e.after);
    this.undoStack.push(e);
    this.emit();
    return e;
  }

  private write(native: Uint32Array, values: Uint8Array): void {
    const [, Y, X] = this.shape;
    const b = this.dirtyBox ?? { z0: Infinity, z1: -Infinity, y0: Infinity, y1: -Infinity, x0: Infinity, x1: -Infinity };
    const XY = X * Y;
    for (let i = 0; i < native.length; i++) {
      const n = native[i];
      this.data[n] = values[i];
      const z = (n / XY) | 0;
      const rem = n - z * XY;
      const y = (rem / X) | 0;
      const x = rem - y * X;
      if (z < b.z0) b.z0 = z; if (z + 1 > b.z1) b.z1 = z + 1;
      if (y < b.y0) b.y0 = y; if (y + 1 > b.y1) b.y1 = y + 1;
      if (x < b.x0) b.x0 = x; if (x + 1 > b.x1) b.x1 = x + 1;
    }
    if (native.length) {
      this.dirtyBox = b;
      this.editsSinceSave++;
    }
  }

  get dirty(): Box | null { return this.dirtyBox; }

  /** Take the changed region for saving: the box and its voxels (C order), and clear the dirty state. */
  takeDirty(): { box: Box; bytes: Uint8Array } | null {
    const b = this.dirtyBox;
    if (!b) return null;
    this.dirtyBox = null;
    this.editsSinceSave = 0;
    return { box: b, bytes: this.region(b) };
  }

  /** Put a region back into the dirty set (a save failed). */
  markDirty(box: Box): void {
    const b = this.dirtyBox;
    this.dirtyBox = b
      ? { z0: Math.min(b.z0, box.z0), z1: Math.max(b.z1, box.z1), y0: Math.min(b.y0, box.y0), y1: Math.max(b.y1, box.y1), x0: Math.min(b.x0, box.x0), x1: Math.max(b.x1, box.x1) }
      : box;
    this.emit();
  }

  region(b: Box): Uint8Array {
    const [, Y, X] = this.shape;
    const w = b.x1 - b.x0;
    const out = new Uint8Array((b.z1 - b.z0) * (b.y1 - b.y0) * w);
    let o = 0;
    for (let z = b.z0; z < b.z1; z++)
      for (let y = b.y0; y < b.y1; y++) {
        const s = (z * Y + y) * X + b.x0;
        out.set(this.data.subarray(s, s + w), o);
        o += w;
      }
    return out;
  }

  count(value?: number): number {
    let c = 0;
    for (let i = 0; i < this.data.length; i++) if (value === undefined ? this.data[i] : this.data[i] === value) c++;
    return c;
  }
}
