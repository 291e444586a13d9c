import { apiJson } from "@/lib/api-client";
import { cached } from "@/lib/query-cache";
import type { Me } from "@/types/domain";

export function getMe(): Promise<Me> {
  return cached("me", () => apiJson<Me>("/api/me/"), 60_000);
}
