// Request ids, JSON answers and bounded body reads, as the bridge does them.

import { HttpError, PayloadTooLarge } from "./errors.ts";

const SAFE_ID = /^[A-Za-z0-9._:\-]{1,128}$/;

/** The caller's X-Request-ID when it is safe to echo, else a new one. */
export function requestIdOf(req: Request): string {
  const incoming = req.headers.get("x-request-id") ?? "";
  return SAFE_ID.test(incoming) ? incoming : crypto.randomUUID().replaceAll("-", "");
}

export function jsonText(text: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(text, { status, headers: { "Content-Type": "application/json", ...headers } });
}

/** The bridge's error body: `{detail, request_id}` plus `code` (the SQLSTATE) for database errors. */
export function errorResponse(err: HttpError, requestId: string): Response {
  const body: Record<string, unknown> = { detail: err.detail, request_id: requestId };
  if (err.code) body.code = err.code;
  return jsonText(JSON.stringify(body), err.status, { ...err.headers, "X-Request-ID": requestId });
}

/** The request body, refused (413) past `maxBytes` whether or not Content-Length says so. */
export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    throw new PayloadTooLarge(`request body is ${declared} bytes; the limit is ${maxBytes}`);
  }
  if (req.body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new PayloadTooLarge(`request body exceeds the limit of ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
