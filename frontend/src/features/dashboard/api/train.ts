import { apiJson } from "@/lib/api-client";
import type { Job, ModelKind } from "@/types/domain";

/** Start a training job for the project (202 with the job). */
export function startTraining(slug: string, kind: ModelKind = "segmenter"): Promise<Job> {
  return apiJson<Job>(`/api/projects/${encodeURIComponent(slug)}/train/`, { method: "POST", json: { kind } });
}
