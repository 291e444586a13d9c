/**
 * The one configured HTTP client: the only module that calls fetch.
 * Adds the token (or the session CSRF header), maps failures to ApiError with a readable message.
 */
import { env } from "@/config/env";

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public body: unknown = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  query?: Query;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

let unauthorizedHandler: (() => void) | null = null;

/** Register what to do when the server says the session is gone (401). */
export function onUnauthorized(fn: () => void): void {
  unauthorizedHandler = fn;
}

export function getToken(): string | null {
  return sessionStorage.getItem(env.tokenKey);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(env.tokenKey, token);
  else sessionStorage.removeItem(env.tokenKey);
}

function csrfToken(): string | null {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

export function buildUrl(path: string, query?: Query): string {
  const url = new URL(env.apiBase + path, window.location.origin);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
  }
  return url.pathname + url.search;
}

const STATUS_TEXT: Record<number, string> = {
  400: "The server rejected the request",
  401: "You are not logged in (or your session expired)",
  403: "You do not have permission to do this",
  404: "Not found",
  409: "Conflict: someone else changed this first",
  413: "The request is too large",
  500: "The server failed",
  502: "The server is unreachable",
  503: "The server is unavailable",
};

function describe(status: number, body: unknown): string {
  const base = STATUS_TEXT[status] ?? `HTTP ${status}`;
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    if (typeof b.detail === "string") return `${base}: ${b.detail}`;
    const parts = Object.entries(b)
      .map(([k, v]) => `${k === "non_field_errors" ? "" : k + ": "}${Array.isArray(v) ? v.join(" ") : String(v)}`)
      .slice(0, 3);
    if (parts.length) return `${base}: ${parts.join("; ")}`;
  }
  return base;
}

async function send(path: string, opts: RequestOptions = {}): Promise<Response> {
  const method = opts.method ?? "GET";
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const token = getToken();
  if (token) headers.Authorization = `Token ${token}`;
  else if (method !== "GET") {
    const csrf = csrfToken();
    if (csrf) headers["X-CSRFToken"] = csrf;
  }
  let body = opts.body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  let resp: Response;
  try {
    resp = await fetch(buildUrl(path, opts.query), { method, headers, body, signal: opts.signal, credentials: "same-origin" });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, `Cannot reach the server (${(e as Error).message}). Check your connection.`);
  }
  if (!resp.ok) {
    let parsed: unknown = null;
    const text = await resp.text().catch(() => "");
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (resp.status === 401 && unauthorizedHandler) unauthorizedHandler();
    throw new ApiError(resp.status, describe(resp.status, parsed), parsed);
  }
  return resp;
}

/** JSON request; resolves to null on 204 No Content. */
export async function apiJson<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const resp = await send(path, { ...opts, headers: { Accept: "application/json", ...(opts.headers ?? {}) } });
  if (resp.status === 204) return null as T;
  return (await resp.json()) as T;
}

export interface BytesResponse {
  data: ArrayBuffer;
  headers: Headers;
  status: number;
}

/** Binary request (raw voxels, zarr chunks, PNG); resolves to null on 404 when allowMissing. */
export async function apiBytes(path: string, opts: RequestOptions = {}): Promise<BytesResponse> {
  const resp = await send(path, opts);
  return { data: await resp.arrayBuffer(), headers: resp.headers, status: resp.status };
}

/** Parse an "X-Shape: 48,128,128" header. */
export function shapeHeader(headers: Headers): number[] | null {
  const v = headers.get("X-Shape");
  return v ? v.split(",").map((s) => Number(s.trim())) : null;
}
