// POST /v2/executions/{execution_id}/logs: the bridge's ingestion contract as an edge function.
//
// Same body shapes (a JSON array of entries, or {"logs": [...]}), same limits (413 past the bytes or the
// entries), same statuses and `{detail, request_id[, code]}` error bodies, idempotent on entry ids (the
// SQL function decides), written through public.append_execution_logs as service_role.
//
// Path: Supabase routes https://<ref>.supabase.co/functions/v1/ingest-logs/<rest> to the function with
// the path `/ingest-logs/<rest>`; `deno run` / `deno serve` hand over whatever the client sent. The
// handler accepts the contract's path behind either prefix, so an HttpSink (or curl) pointed at
// `<project>/functions/v1/ingest-logs` and one pointed at the function's own address both work.

import { type Authorize } from "../_shared/auth.ts";
import { HttpError, InvalidRequest, PayloadTooLarge, toHttpError } from "../_shared/errors.ts";
import { errorResponse, jsonText, readBody, requestIdOf } from "../_shared/http.ts";
import { type Env, positiveInt } from "../_shared/env.ts";

export const FUNCTION_NAME = "ingest-logs";

export interface Limits {
  maxIngestBytes: number;
  maxIngestEntries: number;
  retryAfterSeconds: number;
}

/** The bridge's settings of the same name and defaults (8 MiB, 5,000 entries, Retry-After 5 s). */
export function limitsFrom(env: Env): Limits {
  return {
    maxIngestBytes: positiveInt(env, "WORKFLOW_LOGS_MAX_INGEST_BYTES", 8 * 1024 * 1024),
    maxIngestEntries: positiveInt(env, "WORKFLOW_LOGS_MAX_INGEST_ENTRIES", 5000),
    retryAfterSeconds: positiveInt(env, "WORKFLOW_LOGS_RETRY_AFTER", 5),
  };
}

export interface IngestDeps {
  limits: Limits;
  authorize: Authorize;
  /** public.append_execution_logs(entries) as service_role; the JSON result as text. */
  append(entriesJson: string): Promise<string>;
  log?: (line: Record<string, unknown>) => void;
}

const ROUTE = /^\/v2\/executions\/([^/]+)\/logs$/;
const PREFIXES = [`/functions/v1/${FUNCTION_NAME}`, `/${FUNCTION_NAME}`];

/** The execution id of a contract path (behind an optional function prefix), or null. */
export function executionIdOf(pathname: string): string | null {
  let path = pathname;
  for (const prefix of PREFIXES) {
    if (path.startsWith(prefix + "/")) {
      path = path.slice(prefix.length);
      break;
    }
  }
  const match = ROUTE.exec(path);
  if (!match) return null;
  try {
    const id = decodeURIComponent(match[1]);
    return id === "" ? null : id;
  } catch {
    return null; // a malformed %-escape names no execution
  }
}

export function createHandler(deps: IngestDeps): (req: Request) => Promise<Response> {
  const log = deps.log ?? ((line) => console.log(JSON.stringify(line)));

  return async (req) => {
    const started = performance.now();
    const requestId = requestIdOf(req);
    const path = new URL(req.url).pathname;
    let response: Response;
    try {
      response = await ingest(req, path, deps);
      response.headers.set("X-Request-ID", requestId);
    } catch (err) {
      const answer = toHttpError(err, deps.limits.retryAfterSeconds);
      if (answer.status >= 500) {
        log({ level: "error", msg: "request failed", request_id: requestId, error: describe(err) });
      }
      response = errorResponse(answer, requestId);
    }
    // The path, never the query string or a header: no token reaches a log line.
    log({
      level: "info",
      msg: "request",
      method: req.method,
      path,
      status: response.status,
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      request_id: requestId,
    });
    return response;
  };
}

async function ingest(req: Request, path: string, deps: IngestDeps): Promise<Response> {
  const executionId = executionIdOf(path);
  if (executionId === null) throw new HttpError(404, "Not Found");
  if (req.method !== "POST") throw new HttpError(405, "Method Not Allowed", { Allow: "POST" });
  await deps.authorize(req.headers.get("authorization"));

  const { maxIngestBytes, maxIngestEntries } = deps.limits;
  const body = await readBody(req, maxIngestBytes);
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (err) {
    throw new InvalidRequest(`body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const entries = isObject(payload) ? (Object.hasOwn(payload, "logs") ? payload.logs : undefined) : payload;
  if (!Array.isArray(entries)) {
    throw new InvalidRequest('body must be a JSON array of log entries or {"logs": [...]}');
  }
  if (entries.length > maxIngestEntries) {
    throw new PayloadTooLarge(`batch holds ${entries.length} entries; the limit is ${maxIngestEntries}`);
  }
  entries.forEach((entry, i) => {
    if (!isObject(entry)) return; // append_execution_logs names the entry that is not an object
    if (!Object.hasOwn(entry, "execution_id")) entry.execution_id = executionId;
    if (entry.execution_id !== executionId) {
      throw new InvalidRequest(
        `logs[${i}].execution_id is ${pyRepr(entry.execution_id)} but the path names ${pyRepr(executionId)}`,
      );
    }
  });
  return jsonText(await deps.append(JSON.stringify(entries)));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Values as the bridge's messages print them (Python's repr), so both answer with the same text. */
function pyRepr(value: unknown): string {
  if (typeof value === "string") {
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
    const escaped = value.replaceAll("\\", "\\\\").replaceAll(quote, "\\" + quote);
    return quote + escaped + quote;
  }
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  return JSON.stringify(value);
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
