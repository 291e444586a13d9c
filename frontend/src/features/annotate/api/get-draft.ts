import { apiBytes, apiJson } from "@/lib/api-client";
import type { Draft } from "@/types/domain";

/** The caller's draft of a case (its revision and where it lives). */
export function getDraft(caseId: number): Promise<Draft> {
  return apiJson<Draft>(`/api/cases/${caseId}/draft/`);
}

/** The whole draft as uint8 voxels in (Z, Y, X) C order. */
export async function getDraftData(caseId: number): Promise<Uint8Array> {
  return new Uint8Array((await apiBytes(`/api/cases/${caseId}/draft/data/`)).data);
}
