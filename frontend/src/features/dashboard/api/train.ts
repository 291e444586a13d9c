import { apiJson } from "@/lib/api-client";
import type { Job } from "@/types/domain";

/** Start a retraining job for the project. */
export function startTraining(slug: string): Promise<Job> {
  return apiJson<Job>(`/api/projects/${encodeURIComponent(slug)}/train/`, { method: "POST" });
}
