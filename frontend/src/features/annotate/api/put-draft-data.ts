import { apiJson } from "@/lib/api-client";
import type { Box } from "@/features/annotate/stores/label-store";

/** Save one region of the draft; the server answers the new revision, or 409 if `revision` is stale. */
export async function putDraftData(caseId: number, box: Box, bytes: Uint8Array, revision: number): Promise<number> {
  const r = await apiJson<{ revision: number }>(`/api/cases/${caseId}/draft/data/`, {
    method: "PUT",
    query: { ...box, revision },
    body: bytes as unknown as BodyInit,
    headers: { "Content-Type": "application/octet-stream" },
  });
  return r.revision;
}
