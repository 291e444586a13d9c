import { apiJson } from "@/lib/api-client";
import type { Job, Page } from "@/types/domain";

export async function getJobs(): Promise<Job[]> {
  return (await apiJson<Page<Job>>("/api/jobs/")).results;
}
