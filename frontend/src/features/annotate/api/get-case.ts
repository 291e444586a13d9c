import { apiJson } from "@/lib/api-client";
import type { Case } from "@/types/domain";

export function getCase(id: number): Promise<Case> {
  return apiJson<Case>(`/api/cases/${id}/`);
}
