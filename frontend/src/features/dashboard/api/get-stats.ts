import { apiJson } from "@/lib/api-client";
import type { Job } from "@/types/domain";

export interface ProjectStats {
  progress?: { total: number; labelled?: number; closed?: number; new?: number; in_progress?: number; assignments_open?: number };
  throughput?: { rater: string; cases_per_hour: number; submitted: number }[];
  agreement_distribution?: { bins: number[]; counts: number[] } | (number | { mean_dice?: number })[];
  agreement_over_time?: { date: string; mean_dice: number; cases: number }[];
  per_rater?: { rater: string; sensitivity: number; specificity: number; cases?: number; mean_dice?: number }[];
  low_agreement?: { case_id: number; mean_dice: number; name?: string }[];
  jobs?: Job[];
}

/** Everything the manager dashboard shows, in one call. */
export function getStats(slug: string): Promise<ProjectStats> {
  return apiJson<ProjectStats>(`/api/projects/${encodeURIComponent(slug)}/stats/`);
}
