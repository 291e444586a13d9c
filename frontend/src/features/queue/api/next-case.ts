import { apiJson } from "@/lib/api-client";
import type { NextCase } from "@/types/domain";

export type { NextCase } from "@/types/domain";

/** Ask the queue for the next case to annotate; null when nothing is left (204). */
export function nextCase(project: string): Promise<NextCase | null> {
  return apiJson<NextCase | null>(`/api/projects/${encodeURIComponent(project)}/next/`, { method: "POST" });
}
