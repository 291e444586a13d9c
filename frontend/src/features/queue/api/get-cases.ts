import { apiJson } from "@/lib/api-client";
import type { Case, Page } from "@/types/domain";

/** Cases of a project in queue order (priority first). */
export async function getCases(project: string, status?: string): Promise<Page<Case>> {
  return apiJson<Page<Case>>("/api/cases/", { query: { project, ordering: "priority", status } });
}
