export type VoxelArray = Int16Array | Uint8Array | Int8Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** A volume in Zarr order: data C-order (Z, Y, X), spacing [x, y, z] mm, LPS origin and direction. */
export interface VolumeData {
  data: VoxelArray;
  shape: [number, number, number];
  spacing: [number, number, number];
  origin: number[];
  direction: number[];
  dtype: string;
  /** "coarse" levels are shown at once and replaced by the full level; drawing waits for "full". */
  resolution: "coarse" | "full";
}

/** One committed edit: voxel indices in NiiVue's RAS order and in native (Z, Y, X) order, with values. */
export interface Edit {
  ras: Uint32Array;
  native: Uint32Array;
  before: Uint8Array;
  after: Uint8Array;
}

export type Tool = "navigate" | "brush" | "eraser" | "fill" | "smart";

export interface Structure {
  value: number;
  name: string;
  color: string;
}
