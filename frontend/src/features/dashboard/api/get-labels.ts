import { apiBytes, apiJson, shapeHeader } from "@/lib/api-client";

import type { LabelVersion } from "@/types/domain";

export type { LabelVersion } from "@/types/domain";

/** Label versions of a case the caller may see (a blinded rater sees only their own). */
export async function getLabels(caseId: number): Promise<LabelVersion[]> {
  const r = await apiJson<LabelVersion[] | { results: LabelVersion[] }>(`/api/cases/${caseId}/labels/`);
  return Array.isArray(r) ? r : r.results;
}

/** A version's voxels, uint8 (Z, Y, X). */
export async function getLabelData(versionId: number): Promise<{ data: Uint8Array; shape: number[] | null }> {
  const r = await apiBytes(`/api/labels/${versionId}/data/`);
  return { data: new Uint8Array(r.data), shape: shapeHeader(r.headers) };
}
