import { apiJson } from "@/lib/api-client";

export interface SubmittedVersion {
  version: { id: number; number: number; checksum: string };
}

/** Turn the draft at `revision` into an immutable label version. */
export function submitLabel(caseId: number, revision: number): Promise<SubmittedVersion> {
  return apiJson<SubmittedVersion>(`/api/cases/${caseId}/submit/`, { method: "POST", json: { revision } });
}
