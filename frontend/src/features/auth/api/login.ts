import { apiJson, setToken } from "@/lib/api-client";
import { invalidate } from "@/lib/query-cache";

/** Exchange username and password for an API token, kept in this tab's sessionStorage. */
export async function login(username: string, password: string): Promise<void> {
  const { token } = await apiJson<{ token: string }>("/api/auth/token/", { method: "POST", json: { username, password } });
  invalidate();
  setToken(token);
}

export function logout(): void {
  invalidate();
  setToken(null);
}
