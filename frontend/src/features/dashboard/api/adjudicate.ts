import { apiJson } from "@/lib/api-client";

export type AdjudicationMethod = "staple" | "majority" | "version";

/** Make the consensus version of a case (STAPLE, majority vote, or one chosen rater's version). */
export function adjudicate(caseId: number, method: AdjudicationMethod, versionId?: number): Promise<unknown> {
  return apiJson(`/api/cases/${caseId}/adjudicate/`, { method: "POST", json: { method, version_id: versionId } });
}
