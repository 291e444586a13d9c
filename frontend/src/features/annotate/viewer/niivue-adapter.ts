/**
 * The only module that knows NiiVue. Three orthogonal views plus a 3D render, a label layer the
 * user paints on, and edits reported as voxel diffs in native (Z, Y, X) order.
 *
 * NiiVue keeps its drawing bitmap in RAS voxel order; the label store keeps Zarr order. The
 * per-axis lookup tables below (from NiiVue's img2RASstart/step) translate between the two.
 */
import { MULTIPLANAR_TYPE, Niivue, NVImage, SHOW_RENDER, SLICE_TYPE } from "@niivue/niivue";
import { buildNifti } from "@/features/annotate/viewer/nifti";
import type { Edit, Structure, Tool, VolumeData } from "@/features/annotate/viewer/types";

export type { Edit, Structure, Tool, VolumeData } from "@/features/annotate/viewer/types";

/** A voxel box in the RAS drawing bitmap: [x0, y0, z0, x1, y1, z1), upper bounds exclusive. */
type Box = [number, number, number, number, number, number];
const EMPTY: Box = [Infinity, Infinity, Infinity, -Infinity, -Infinity, -Infinity];
const isEmpty = (b: Box) => b[0] >= b[3] || b[1] >= b[4] || b[2] >= b[5];
/** null = "anything may have changed" (the whole bitmap) wins over any box. */
const union = (a: Box | null, b: Box | null): Box | null =>
  a === null || b === null ? null : [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.min(a[2], b[2]), Math.max(a[3], b[3]), Math.max(a[4], b[4]), Math.max(a[5], b[5])];

/** x, y, z of a linear index ``r`` in a RAS bitmap of ``dims`` (x fastest). */
const rasToXyz = (r: number, dims: [number, number, number]): [number, number, number] => {
  const dxy = dims[0] * dims[1];
  const z = (r / dxy) | 0;
  const rem = r - z * dxy;
  const y = (rem / dims[0]) | 0;
  return [rem - y * dims[0], y, z];
};

interface RasMap {
  dims: [number, number, number];
  xl: Int32Array;
  yl: Int32Array;
  zl: Int32Array;
}

function hexToRgb(hex: string): [number, number, number] {
  const m = hex.replace("#", "");
  const full = m.length === 3 ? m.split("").map((c) => c + c).join("") : m;
  const n = parseInt(full, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export class Viewer {
  readonly nv: Niivue;
  private volume: NVImage | null = null;
  private heat: NVImage | null = null;
  private render3D = true;
  private map: RasMap | null = null;
  private shadow: Uint8Array | null = null; // last known drawBitmap (RAS)
  // Where the drawing changed: since the last texture upload, and since the last collected edit.
  // A stroke on a 512x512x600 volume then uploads and diffs a few thousand voxels, not 157 M.
  private uploadBox: Box | null = null;
  private editBox: Box | null = null;
  private editListeners: ((e: Edit) => void)[] = [];
  private tool: Tool = "navigate";
  private pen = 1;
  resolution: "none" | "coarse" | "full" = "none";

  constructor(private canvas: HTMLCanvasElement) {
    this.nv = new Niivue({
      backColor: [0.07, 0.08, 0.1, 1],
      show3Dcrosshair: true,
      multiplanarShowRender: SHOW_RENDER.ALWAYS,
      multiplanarLayout: MULTIPLANAR_TYPE.GRID,
      isRadiologicalConvention: true,
      dragAndDropEnabled: false,
      isColorbar: false,
      drawingEnabled: false,
      penSize: 3,
      // the workspace owns the letter keys (V = navigate tool, C unused); NiiVue keeps arrows
      viewModeHotKey: "",
      clipPlaneHotKey: "",
      cycleClipPlaneHotKey: "",
    });
    this.nv.onDrawingChanged = (action: string) => {
      if (action === "draw") this.collectEdit();
    };
    this.trackDrawing();
    // smart tool: a click (no drag) grows a region from the clicked voxel in that view's plane
    let down: [number, number] | null = null;
    canvas.addEventListener("pointerdown", (e) => (down = [e.clientX, e.clientY]));
    canvas.addEventListener("pointerup", (e) => {
      if (this.tool !== "smart" || !down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4) return;
      const r = canvas.getBoundingClientRect();
      const dpr = canvas.width / r.width;
      const tile = this.nv.tileIndex((e.clientX - r.left) * dpr, (e.clientY - r.top) * dpr);
      const plane = tile >= 0 ? this.nv.screenSlices[tile].axCorSag : -1;
      if (plane < 0 || plane > 2) return;
      requestAnimationFrame(() => this.regionGrow(plane as 0 | 1 | 2));
    });
  }

  /**
   * Make NiiVue's pen cheap on big volumes. NiiVue re-uploads the whole drawing texture on every
   * pointer move and RLE-encodes the whole bitmap for its own undo at every stroke end (hundreds of
   * ms each at 512x512x600). Here the pen's writes are boxed, only the box is uploaded (WebGL2
   * unpack skips, no copy), and NiiVue's undo snapshots are off: undo lives in the LabelStore.
   */
  private trackDrawing(): void {
    const nv = this.nv as unknown as {
      drawPt: (x: number, y: number, z: number, v: number, bmp?: Uint8Array | null) => void;
      drawPenLine: (a: number[], b: number[], v: number) => void;
      drawPenFilled: () => void;
      drawAddUndoBitmap: () => void;
      refreshDrawing: (force?: boolean, clickToSegment?: boolean) => void;
      drawPenFillPts: number[][];
      drawTexture: WebGLTexture | null;
    };
    const half = () => Math.floor(Math.max(1, this.nv.opts.penSize ?? 1) / 2);
    const around = (pts: number[][]): Box => {
      const b: Box = [...EMPTY];
      const r = half();
      for (const p of pts)
        for (let c = 0; c < 3; c++) {
          b[c] = Math.min(b[c], p[c] - r);
          b[c + 3] = Math.max(b[c + 3], p[c] + r + 1);
        }
      return b;
    };
    const touched = (b: Box) => {
      this.uploadBox = union(this.uploadBox, b);
      this.editBox = union(this.editBox, b);
    };
    const drawPt = nv.drawPt.bind(this.nv);
    nv.drawPt = (x, y, z, v, bmp = null) => {
      if (!bmp) touched(around([[x, y, z]]));
      drawPt(x, y, z, v, bmp);
    };
    const drawPenLine = nv.drawPenLine.bind(this.nv);
    nv.drawPenLine = (a, b, v) => {
      touched(around([a, b]));
      drawPenLine(a, b, v);
    };
    const drawPenFilled = nv.drawPenFilled.bind(this.nv);
    nv.drawPenFilled = () => {
      // the filled polygon lies inside its outline's bounding box
      if (nv.drawPenFillPts.length >= 2) touched(around(nv.drawPenFillPts));
      drawPenFilled();
    };
    nv.drawAddUndoBitmap = () => undefined;
    const refresh = nv.refreshDrawing.bind(this.nv);
    nv.refreshDrawing = (force = true, clickToSegment = false) => {
      const box = this.uploadBox;
      const bmp = this.nv.drawBitmap;
      const gl = this.nv.gl as WebGL2RenderingContext | null;
      const dims = this.nv.back?.dims;
      this.uploadBox = [...EMPTY];
      if (box === null || clickToSegment || !bmp || !gl || !dims || !nv.drawTexture || this.nv.opts.is2DSliceShader || (this.nv.opts.smoothDrawing ?? 0) > 0) {
        refresh(force, clickToSegment);
        return;
      }
      const lo = [0, 1, 2].map((c) => Math.max(0, box[c]));
      const hi = [0, 1, 2].map((c) => Math.min(dims[c + 1], box[c + 3]));
      if (hi.every((h, c) => h > lo[c])) {
        gl.activeTexture(gl.TEXTURE7); // NiiVue's drawing texture unit
        gl.bindTexture(gl.TEXTURE_3D, nv.drawTexture);
        gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
        gl.pixelStorei(gl.UNPACK_ROW_LENGTH, dims[1]);
        gl.pixelStorei(gl.UNPACK_IMAGE_HEIGHT, dims[2]);
        gl.pixelStorei(gl.UNPACK_SKIP_PIXELS, lo[0]);
        gl.pixelStorei(gl.UNPACK_SKIP_ROWS, lo[1]);
        gl.pixelStorei(gl.UNPACK_SKIP_IMAGES, lo[2]);
        gl.texSubImage3D(gl.TEXTURE_3D, 0, lo[0], lo[1], lo[2], hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], gl.RED, gl.UNSIGNED_BYTE, bmp);
        for (const p of [gl.UNPACK_ROW_LENGTH, gl.UNPACK_IMAGE_HEIGHT, gl.UNPACK_SKIP_PIXELS, gl.UNPACK_SKIP_ROWS, gl.UNPACK_SKIP_IMAGES]) gl.pixelStorei(p, 0);
      }
      if (force) this.nv.drawScene();
    };
  }

  /** Grow a 2D region from the crosshair voxel: neighbours within an intensity tolerance, inside a radius. */
  regionGrow(plane: 0 | 1 | 2, radius = 25, tolerance?: number): void {
    const img = this.volume;
    const bmp = this.nv.drawBitmap;
    if (!img || !bmp || this.resolution !== "full") return;
    const { dims } = this.rasMap();
    const seed = Array.from(this.nv.frac2vox(this.nv.scene.crosshairPos) as ArrayLike<number>, (v) => Math.round(v));
    const value = (p: number[]) => img.getValue(p[0], p[1], p[2]);
    const v0 = value(seed);
    const tol = tolerance ?? Math.max(30, 0.15 * Math.abs((img.cal_max ?? 1) - (img.cal_min ?? 0)));
    // the two axes spanning the plane: axial (z fixed) -> x,y; coronal (y fixed) -> x,z; sagittal -> y,z
    const [a, b] = plane === 0 ? [0, 1] : plane === 1 ? [0, 2] : [1, 2];
    const seen = new Set<number>();
    const stack: number[][] = [seed];
    const idx = (p: number[]) => p[0] + p[1] * dims[0] + p[2] * dims[0] * dims[1];
    let filled = 0;
    while (stack.length && filled < 200_000) {
      const p = stack.pop()!;
      const k = idx(p);
      if (seen.has(k)) continue;
      seen.add(k);
      if (Math.abs(value(p) - v0) > tol) continue;
      bmp[k] = this.pen;
      filled++;
      for (const [da, db] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const q = [...p];
        q[a] += da;
        q[b] += db;
        if (q[a] < 0 || q[b] < 0 || q[a] >= dims[a] || q[b] >= dims[b]) continue;
        if (Math.hypot(q[a] - seed[a], q[b] - seed[b]) > radius) continue;
        stack.push(q);
      }
    }
    const box: Box = [seed[0], seed[1], seed[2], seed[0] + 1, seed[1] + 1, seed[2] + 1];
    for (const c of [a, b]) {
      box[c] = seed[c] - radius;
      box[c + 3] = seed[c] + radius + 1;
    }
    this.uploadBox = union(this.uploadBox, box);
    this.editBox = union(this.editBox, box);
    this.nv.refreshDrawing(true);
    this.collectEdit();
  }

  async attach(): Promise<void> {
    await this.nv.attachToCanvas(this.canvas);
    this.nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
  }

  /** Show a volume; a "full" volume replaces a coarse one in the same world space. */
  async loadVolume(v: VolumeData, window?: { center: number; width: number }): Promise<void> {
    const buffer = buildNifti(v);
    performance.mark(`${v.resolution}-nifti-built`);
    const img = await NVImage.loadFromUrl({ url: buffer as unknown as string, name: `${v.resolution}.nii` });
    performance.mark(`${v.resolution}-image-parsed`);
    if (window) {
      img.cal_min = window.center - window.width / 2;
      img.cal_max = window.center + window.width / 2;
    }
    const old = this.volume;
    const keepCrosshair = old ? [...this.nv.scene.crosshairPos] : null;
    // the background must stay the first volume: take the heat overlay off and put it back on top
    // One GL refresh: addVolume + removeVolume would each rebuild every layer's textures and the
    // 3D gradients (seconds apiece for 512x512x600 under software WebGL). This is what NiiVue's
    // setVolume assigns, for the whole list at once.
    const nv = this.nv as unknown as { volumes: NVImage[]; back: NVImage | null; overlays: NVImage[] };
    const others = nv.volumes.filter((x) => x !== old && x !== this.heat);
    nv.volumes = [img, ...others, ...(this.heat ? [this.heat] : [])];
    nv.back = img;
    nv.overlays = nv.volumes.slice(1);
    this.volume = img;
    this.resolution = v.resolution;
    if (keepCrosshair) this.nv.scene.crosshairPos = keepCrosshair as unknown as typeof this.nv.scene.crosshairPos;
    this.map = null;
    this.shadow = null;
    this.uploadBox = this.editBox = null;
    this.nv.updateGLVolume();
    // wait for the GPU to finish the layer passes, so the mark says when the views are really usable
    (this.nv.gl as WebGL2RenderingContext | null)?.finish();
    performance.mark(`${v.resolution}-uploaded`);
  }

  private rasMap(): RasMap {
    if (this.map) return this.map;
    const img = this.volume;
    if (!img?.dimsRAS || !img.img2RASstart || !img.img2RASstep) throw new Error("volume not loaded");
    const dims: [number, number, number] = [img.dimsRAS[1], img.dimsRAS[2], img.dimsRAS[3]];
    const lut = (axis: number) => {
      const a = new Int32Array(dims[axis]);
      for (let i = 0; i < a.length; i++) a[i] = img.img2RASstart![axis] + i * img.img2RASstep![axis];
      return a;
    };
    this.map = { dims, xl: lut(0), yl: lut(1), zl: lut(2) };
    return this.map;
  }

  /** Put a label volume (native Zarr order, uint8) on the drawing layer with the schema's colours. */
  setLabelLayer(label: Uint8Array, structures: Structure[]): void {
    const maxV = Math.max(1, ...structures.map((s) => s.value));
    const R = [0], G = [0], B = [0], A = [0], I = [0], labels = ["background"];
    for (let v = 1; v <= maxV; v++) {
      const s = structures.find((x) => x.value === v);
      const [r, g, b] = s ? hexToRgb(s.color) : [255, 255, 0];
      R.push(r); G.push(g); B.push(b); A.push(255); I.push(v); labels.push(s?.name ?? String(v));
    }
    this.nv.setDrawColormap({ R, G, B, A, I, labels } as unknown as string);
    if (!this.nv.drawBitmap) this.nv.createEmptyDrawing();
    const { dims, xl, yl, zl } = this.rasMap();
    const bmp = this.nv.drawBitmap!;
    if (isAllZero(label)) bmp.fill(0); // the usual fresh draft: skip the 157 M-voxel reorder
    else {
      let r = 0;
      for (let z = 0; z < dims[2]; z++)
        for (let y = 0; y < dims[1]; y++) {
          const base = zl[z] + yl[y];
          for (let x = 0; x < dims[0]; x++) bmp[r++] = label[base + xl[x]];
        }
    }
    this.shadow = bmp.slice();
    this.uploadBox = null;
    this.editBox = [...EMPTY];
    this.nv.setDrawOpacity(0.55);
    this.nv.refreshDrawing(true);
  }

  /**
   * Show a uint8 scalar volume (same grid as the image, Zarr order) as a semi-transparent heat map
   * over the image, below the label layer; null removes it. Values under `threshold` stay clear.
   */
  async setHeatOverlay(v: VolumeData | null, opts: { opacity?: number; threshold?: number; colormap?: string } = {}): Promise<void> {
    if (this.heat) {
      this.nv.removeVolume(this.heat);
      this.heat = null;
    }
    if (v) {
      const img = await NVImage.loadFromUrl({ url: buildNifti(v) as unknown as string, name: "uncertainty.nii",
        colormap: opts.colormap ?? "warm", opacity: opts.opacity ?? 0.6, cal_min: opts.threshold ?? 16, cal_max: 255 });
      img.cal_min = opts.threshold ?? 16;
      img.cal_max = 255;
      this.nv.addVolume(img);
      this.heat = img;
    }
    this.nv.updateGLVolume();
  }

  get heatOverlayShown(): boolean {
    return this.heat !== null;
  }

  /** Show or hide the 3D render tile (software WebGL renders it slowly). */
  setRender3D(on: boolean): void {
    this.render3D = on;
    this.nv.opts.multiplanarShowRender = on ? SHOW_RENDER.ALWAYS : SHOW_RENDER.NEVER;
    this.nv.drawScene();
  }

  get render3DShown(): boolean {
    return this.render3D;
  }

  /** Subscribe to committed edits (one per stroke, fill or smart click). */
  onEdit(cb: (e: Edit) => void): () => void {
    this.editListeners.push(cb);
    return () => (this.editListeners = this.editListeners.filter((f) => f !== cb));
  }

  /** Write values at RAS indices (undo/redo), without reporting an edit. */
  applyValues(ras: Uint32Array, values: Uint8Array): void {
    const bmp = this.nv.drawBitmap;
    if (!bmp || !this.shadow) return;
    const { dims } = this.rasMap();
    const box: Box = [...EMPTY];
    for (let i = 0; i < ras.length; i++) {
      const r = ras[i];
      bmp[r] = values[i];
      this.shadow[r] = values[i];
      const [x, y, z] = rasToXyz(r, dims);
      box[0] = Math.min(box[0], x); box[1] = Math.min(box[1], y); box[2] = Math.min(box[2], z);
      box[3] = Math.max(box[3], x + 1); box[4] = Math.max(box[4], y + 1); box[5] = Math.max(box[5], z + 1);
    }
    this.uploadBox = union(this.uploadBox, box);
    this.nv.refreshDrawing(true);
  }

  private collectEdit(): void {
    const bmp = this.nv.drawBitmap;
    if (!bmp) return;
    if (!this.shadow || this.shadow.length !== bmp.length) {
      this.shadow = new Uint8Array(bmp.length);
    }
    const { dims, xl, yl, zl } = this.rasMap();
    const box = this.editBox;
    this.editBox = [...EMPTY];
    const changed = box === null ? diffAll(bmp, this.shadow) : diffBox(bmp, this.shadow, dims, box);
    if (!changed.length) return;
    const ras = Uint32Array.from(changed);
    const native = new Uint32Array(ras.length);
    const before = new Uint8Array(ras.length);
    const after = new Uint8Array(ras.length);
    for (let i = 0; i < ras.length; i++) {
      const r = ras[i];
      const [x, y, z] = rasToXyz(r, dims);
      native[i] = xl[x] + yl[y] + zl[z];
      before[i] = this.shadow[r];
      after[i] = bmp[r];
      this.shadow[r] = bmp[r];
    }
    const edit = { ras, native, before, after };
    for (const f of this.editListeners) f(edit);
  }

  setTool(tool: Tool, penValue = this.pen): void {
    this.tool = tool;
    this.pen = penValue;
    // the smart tool clicks to move the crosshair and grows from there (regionGrow), so NiiVue does not draw
    const drawing = tool !== "navigate" && tool !== "smart" && this.resolution === "full";
    this.nv.setDrawingEnabled(drawing);
    if (drawing) this.nv.setPenValue(tool === "eraser" ? 0 : penValue, tool === "fill");
  }

  currentTool(): Tool {
    return this.tool;
  }

  setPenSize(px: number): void {
    this.nv.opts.penSize = Math.max(1, Math.round(px));
  }

  setWindow(center: number, width: number): void {
    if (!this.volume) return;
    this.volume.cal_min = center - width / 2;
    this.volume.cal_max = center + width / 2;
    this.nv.updateGLVolume();
  }

  /** Robust intensity range NiiVue computed (for an "auto" window). */
  autoWindow(): { center: number; width: number } | null {
    const v = this.volume;
    if (!v) return null;
    const lo = v.robust_min ?? v.global_min ?? 0;
    const hi = v.robust_max ?? v.global_max ?? 1;
    return { center: (lo + hi) / 2, width: Math.max(1, hi - lo) };
  }

  /** Step the slice of one view: 0 sagittal (x), 1 coronal (y), 2 axial (z), by delta voxels. */
  moveSlice(axis: 0 | 1 | 2, delta: number): void {
    const d: [number, number, number] = [0, 0, 0];
    d[axis] = delta;
    this.nv.moveCrosshairInVox(d[0], d[1], d[2]);
  }

  destroy(): void {
    this.editListeners = [];
    try {
      const gl = this.nv.gl as WebGL2RenderingContext | null;
      gl?.getExtension("WEBGL_lose_context")?.loseContext();
    } catch {
      /* context already gone */
    }
  }
}

function isAllZero(a: Uint8Array): boolean {
  const head = a.byteOffset % 4 === 0 ? a.length >> 2 : 0;
  const w = new Uint32Array(a.buffer, a.byteOffset, head);
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) return false;
  for (let k = head * 4; k < a.length; k++) if (a[k] !== 0) return false;
  return true;
}

/** Indices where two equal-length bitmaps differ, compared a word at a time. */
function diffAll(a: Uint8Array, b: Uint8Array): number[] {
  const changed: number[] = [];
  const words = a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 ? a.length >> 2 : 0;
  const a32 = new Uint32Array(a.buffer, a.byteOffset, words);
  const b32 = new Uint32Array(b.buffer, b.byteOffset, words);
  for (let w = 0; w < words; w++) if (a32[w] !== b32[w]) for (let k = w * 4; k < w * 4 + 4; k++) if (a[k] !== b[k]) changed.push(k);
  for (let k = words * 4; k < a.length; k++) if (a[k] !== b[k]) changed.push(k);
  return changed;
}

/** Indices where two bitmaps of `dims` (x fastest) differ inside `box` (clamped to the volume). */
function diffBox(a: Uint8Array, b: Uint8Array, dims: [number, number, number], box: Box): number[] {
  const changed: number[] = [];
  if (isEmpty(box)) return changed;
  const [x0, y0, z0] = [0, 1, 2].map((c) => Math.max(0, box[c]));
  const [x1, y1, z1] = [0, 1, 2].map((c) => Math.min(dims[c], box[c + 3]));
  for (let z = z0; z < z1; z++)
    for (let y = y0; y < y1; y++) {
      const row = (z * dims[1] + y) * dims[0];
      for (let k = row + x0; k < row + x1; k++) if (a[k] !== b[k]) changed.push(k);
    }
  return changed;
}
