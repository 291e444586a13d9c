import { apiJson } from "@/lib/api-client";
import type { Job } from "@/types/domain";

export interface ProjectStats {
  progress?: { total: number; labelled: number; in_progress: number };
  throughput?: { rater: string; cases_per_hour: number; submitted: number }[];
  agreement_distribution?: (number | { case_id?: number; mean_dice?: number; value?: number })[];
  per_rater?: { rater: string; sensitivity: number; specificity: number }[];
  low_agreement?: { case_id: number; mean_dice: number; name?: string }[];
  learning_curve?: Record<string, unknown>[];
  models?: Record<string, unknown>[];
  audits?: Record<string, unknown>[];
  jobs?: Job[];
}

/** Everything the manager dashboard shows, in one call. */
export function getStats(slug: string): Promise<ProjectStats> {
  return apiJson<ProjectStats>(`/api/projects/${encodeURIComponent(slug)}/stats/`);
}
