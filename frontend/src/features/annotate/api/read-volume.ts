/**
 * Read pyramid levels of a case's OME-Zarr group through the API (zarrita decodes blosc + crc32c).
 * The store goes through the api-client, so auth and errors are handled in one place.
 */
import * as zarr from "zarrita";
import { ApiError, apiBytes } from "@/lib/api-client";
import type { VolumeData, VoxelArray } from "@/features/annotate/viewer/types";
import type { Volume } from "@/types/domain";

function storeFor(caseId: number, onChunk?: () => void) {
  return {
    async get(key: string): Promise<Uint8Array | undefined> {
      try {
        const r = await apiBytes(`/api/cases/${caseId}/zarr${key}`);
        if (onChunk && !key.endsWith(".json")) onChunk();
        return new Uint8Array(r.data);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return undefined;
        throw e;
      }
    },
  };
}

/** Read one level (0 = full) as a VolumeData with spacing/origin scaled to that level. */
export function readLevel(
  caseId: number,
  volume: Volume,
  level: number,
  onProgress?: (done: number, total: number) => void,
): Promise<VolumeData> {
  return readArray(caseId, volume, String(level), level === 0 ? "full" : "coarse", onProgress);
}

/**
 * Read a full-resolution label image of the case's group, e.g. "labels/prob-m3" (its level "0"):
 * same grid as the image. zarrita decodes its zstd + crc32c chunks.
 */
export async function readLabelImage(caseId: number, volume: Volume, labelPath: string): Promise<VolumeData> {
  const v = await readArray(caseId, volume, `${labelPath.replace(/^\/+|\/+$/g, "")}/0`, "full");
  const full = volume.shape as unknown as number[];
  if (v.shape.some((n, i) => n !== full[i])) throw new Error(`label ${labelPath} is ${v.shape.join("×")}, the image ${full.join("×")}`);
  return v;
}

async function readArray(
  caseId: number,
  volume: Volume,
  path: string,
  resolution: VolumeData["resolution"],
  onProgress?: (done: number, total: number) => void,
): Promise<VolumeData> {
  let done = 0;
  let total = 1;
  const store = storeFor(caseId, () => onProgress?.(++done, total));
  const arr = await zarr.open.v3(zarr.root(store).resolve(path), { kind: "array" });
  total = arr.shape.reduce((n, s, i) => n * Math.ceil(s / arr.chunks[i]), 1);
  const chunk = await zarr.get(arr);
  const shape = arr.shape as [number, number, number];
  const full = volume.shape as unknown as number[];
  const spacing0 = volume.spacing as unknown as number[];
  const direction = (volume.direction as unknown as number[]) ?? [1, 0, 0, 0, 1, 0, 0, 0, 1];
  // scale per Zarr axis (z, y, x) -> spacing order (x, y, z)
  const f = [full[2] / shape[2], full[1] / shape[1], full[0] / shape[0]];
  const spacing = [spacing0[0] * f[0], spacing0[1] * f[1], spacing0[2] * f[2]] as [number, number, number];
  const shift = [0, 1, 2].map((c) => ((f[c] - 1) / 2) * spacing0[c]);
  const origin0 = (volume.origin as unknown as number[]) ?? [0, 0, 0];
  const origin = [0, 1, 2].map((r) => origin0[r] + direction[r * 3] * shift[0] + direction[r * 3 + 1] * shift[1] + direction[r * 3 + 2] * shift[2]);
  return {
    data: chunk.data as unknown as VoxelArray,
    shape,
    spacing,
    origin,
    direction,
    dtype: String(arr.dtype),
    resolution,
  };
}
