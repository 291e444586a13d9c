import { apiJson } from "@/lib/api-client";
import type { AdjudicationMethod, LabelVersion } from "@/types/domain";

/** Make the consensus version of a case (STAPLE, majority vote, or one chosen rater's version). */
export function adjudicate(caseId: number, method: AdjudicationMethod, versionId?: number): Promise<LabelVersion> {
  return apiJson<LabelVersion>(`/api/cases/${caseId}/adjudicate/`, { method: "POST", json: { method, version_id: versionId } });
}
