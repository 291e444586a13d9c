/**
 * Build an uncompressed NIfTI-1 file in memory from a Zarr (Z, Y, X) C-order array, so NiiVue
 * can take the voxels without a file. Memory order is kept: NIfTI i = Zarr x (fastest), k = Zarr z.
 */
import type { VolumeData } from "@/features/annotate/viewer/types";

const DATATYPE: Record<string, [code: number, bitpix: number]> = {
  uint8: [2, 8],
  int16: [4, 16],
  int32: [8, 32],
  float32: [16, 32],
  float64: [64, 64],
  int8: [256, 8],
  uint16: [512, 16],
  uint32: [768, 32],
};

/** 4x4 voxel->RAS affine (row-major, 3 rows) from spacing [x,y,z], origin and LPS direction (row-major 3x3). */
export function rasAffine(v: Pick<VolumeData, "spacing" | "origin" | "direction">): number[][] {
  const d = v.direction.length === 9 ? v.direction : [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const lps2ras = [-1, -1, 1];
  const rows: number[][] = [];
  for (let r = 0; r < 3; r++) {
    const s = lps2ras[r];
    rows.push([s * d[r * 3] * v.spacing[0], s * d[r * 3 + 1] * v.spacing[1], s * d[r * 3 + 2] * v.spacing[2], s * (v.origin[r] ?? 0)]);
  }
  return rows;
}

export function buildNifti(v: VolumeData): ArrayBuffer {
  const dt = DATATYPE[v.dtype];
  if (!dt) throw new Error(`unsupported voxel type ${v.dtype}`);
  const [Z, Y, X] = v.shape;
  const voxOffset = 352;
  const buf = new ArrayBuffer(voxOffset + v.data.byteLength);
  const dv = new DataView(buf);
  dv.setInt32(0, 348, true);
  const dims = [3, X, Y, Z, 1, 1, 1, 1];
  dims.forEach((n, i) => dv.setInt16(40 + 2 * i, n, true));
  dv.setInt16(70, dt[0], true);
  dv.setInt16(72, dt[1], true);
  const pix = [1, v.spacing[0], v.spacing[1], v.spacing[2], 1, 1, 1, 1];
  pix.forEach((n, i) => dv.setFloat32(76 + 4 * i, n, true));
  dv.setFloat32(108, voxOffset, true);
  dv.setFloat32(112, 1, true); // scl_slope
  dv.setFloat32(116, 0, true); // scl_inter
  dv.setUint8(123, 2 | 8); // mm, s
  dv.setInt16(252, 0, true); // qform_code
  dv.setInt16(254, 1, true); // sform_code: scanner
  rasAffine(v).forEach((row, r) => row.forEach((x, c) => dv.setFloat32(280 + 16 * r + 4 * c, x, true)));
  "n+1\0".split("").forEach((ch, i) => dv.setUint8(344 + i, ch.charCodeAt(0)));
  new Uint8Array(buf, voxOffset).set(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength));
  return buf;
}
