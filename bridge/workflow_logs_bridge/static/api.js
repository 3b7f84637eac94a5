// The public REST + SSE contract, as the page uses it. The token is read once from the page URL
// (?access_token= or #access_token=), kept in sessionStorage for reloads of this tab, and removed
// from the address bar so it stays out of history, bookmarks and screenshots.

const TOKEN_KEY = "workflow-logs.access_token";
const BASE = "/api/v1/app/executions/";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || "";
  }
}

export function takeToken() {
  const url = new URL(window.location.href);
  const hash = new URLSearchParams(url.hash.replace(/^#/, ""));
  const given = url.searchParams.get("access_token") || hash.get("access_token");
  if (given) {
    try { sessionStorage.setItem(TOKEN_KEY, given); } catch { /* storage disabled: keep it in memory */ }
    url.searchParams.delete("access_token");
    hash.delete("access_token");
    url.hash = hash.toString();
    history.replaceState(null, "", url.pathname + url.search + url.hash);
    return given;
  }
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

export function executionIdFromPath() {
  const parts = window.location.pathname.split("/").filter(Boolean);
  return parts.length >= 2 ? decodeURIComponent(parts[parts.length - 1]) : "";
}

export class Api {
  constructor(executionId, token) {
    this.executionId = executionId;
    this.token = token;
    this.base = BASE + encodeURIComponent(executionId);
  }

  async get(path, params = {}, signal) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
    }
    const url = this.base + path + (qs.size ? `?${qs}` : "");
    const response = await fetch(url, {
      headers: { Authorization: `Bearer ${this.token}`, Accept: "application/json" },
      cache: "no-store",
      signal,
    });
    if (!response.ok) {
      let detail = "";
      try { detail = (await response.json()).detail || ""; } catch { /* not JSON */ }
      throw new ApiError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    return response.json();
  }

  logs(params, signal) { return this.get("/logs", params, signal); }
  summary(signal) { return this.get("/logs/summary", {}, signal); }

  // EventSource cannot send headers: the token goes in the query, as the contract allows. The
  // browser resumes with Last-Event-ID on its own; `after` is only the first connection's cursor.
  stream(after) {
    const qs = new URLSearchParams({ access_token: this.token });
    if (after > 0) qs.set("last_event_id", String(after));
    return new EventSource(`${this.base}/logs/stream?${qs}`);
  }
}
