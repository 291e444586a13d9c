import { apiJson } from "@/lib/api-client";
import type { Case } from "@/types/domain";

export interface NextCase {
  case: Case;
  assignment: { id: number; status: string };
  draft: { revision: number; base_version: number | null; label: string };
}

/** Ask the queue for the next case to annotate; null when nothing is left (204). */
export function nextCase(project: string): Promise<NextCase | null> {
  return apiJson<NextCase | null>(`/api/projects/${encodeURIComponent(project)}/next/`, { method: "POST" });
}
