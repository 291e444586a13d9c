/** Hash router: Django serves the app only at "/", so routes live after "#". */
export interface Route {
  path: string[];
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [p, q = ""] = raw.split("?");
  return { path: p.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(q) };
}

export function navigate(path: string, params?: Record<string, string | number | undefined>): void {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  window.location.hash = `#/${path.replace(/^\//, "")}${s ? "?" + s : ""}`;
}

/** Update URL query (shareable view state) without re-rendering the route. */
export function replaceParams(params: Record<string, string | number | undefined>): void {
  const r = currentRoute();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) r.params.delete(k);
    else r.params.set(k, String(v));
  }
  const s = r.params.toString();
  history.replaceState(null, "", `#/${r.path.map(encodeURIComponent).join("/")}${s ? "?" + s : ""}`);
}
