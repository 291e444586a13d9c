/** Build-time and runtime settings of the web app. */
export const env = {
  /** Prefix of every API call; the app is served by the same Django origin. */
  apiBase: (import.meta.env.VITE_API_BASE as string | undefined) ?? "",
  /** Milliseconds after the last edit before the changed region is saved. */
  autosaveDelayMs: Number(import.meta.env.VITE_AUTOSAVE_MS ?? 2000),
  /** Key under which the API token is kept for this browser tab. */
  tokenKey: "concord.token",
} as const;
