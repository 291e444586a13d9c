import { ApiError, apiJson } from "@/lib/api-client";
import type { CasePrediction } from "@/types/domain";

/** The newest model prediction of a case, or null when the case has none yet (404). */
export async function getPrediction(caseId: number): Promise<CasePrediction | null> {
  try {
    return await apiJson<CasePrediction>(`/api/cases/${caseId}/prediction/`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}
