import { apiJson } from "@/lib/api-client";
import { cached } from "@/lib/query-cache";
import type { Page, Project } from "@/types/domain";

export function getProjects(): Promise<Project[]> {
  return cached("projects", async () => (await apiJson<Page<Project>>("/api/projects/")).results);
}

export async function getProject(slug: string): Promise<Project> {
  return cached(`projects/${slug}`, () => apiJson<Project>(`/api/projects/${encodeURIComponent(slug)}/`));
}
