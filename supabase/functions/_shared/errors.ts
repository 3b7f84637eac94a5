// Errors of the edge functions and the one table that turns database errors into HTTP answers: the
// bridge's table (bridge/workflow_logs_bridge/errors.py), so both ingestion paths answer alike.
// Never an empty 200 for a failure; a 5xx names no internals.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
    readonly code?: string,
  ) {
    super(detail);
  }
}

export class AuthError extends HttpError {
  constructor(detail: string) {
    super(401, detail, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
  }
}

export class ForbiddenError extends HttpError {
  constructor(detail: string) {
    super(403, detail);
  }
}

export class InvalidRequest extends HttpError {
  constructor(detail: string) {
    super(422, detail);
  }
}

export class PayloadTooLarge extends HttpError {
  constructor(detail: string) {
    super(413, detail);
  }
}

/** The database answered with an error (a SQLSTATE and its message). */
export class DatabaseError extends Error {
  constructor(readonly sqlstate: string, message: string) {
    super(message);
  }
}

/** The database could not be reached, or the connection broke. */
export class DatabaseUnavailable extends Error {}

// SQLSTATE (exact, then class) -> HTTP status. Everything else is a 500.
const SQLSTATE_STATUS: Record<string, number> = {
  P0002: 404, // execution / workflow not found or not visible to the caller
  "23503": 404, // appending to an execution that does not exist
  "22001": 422, // entry over the 10 KB limit
  "42501": 403, // insufficient privilege
  "57014": 503, // statement timeout / query canceled
  "57P01": 503, // admin shutdown
  "57P02": 503,
  "57P03": 503, // cannot connect now
  "53300": 503, // too many connections
};
const SQLSTATE_CLASS_STATUS: Record<string, number> = { "22": 422, "23": 422, "08": 503, "53": 503 };

export function statusForSqlstate(sqlstate: string | null | undefined): number {
  if (!sqlstate) return 500;
  return SQLSTATE_STATUS[sqlstate] ?? SQLSTATE_CLASS_STATUS[sqlstate.slice(0, 2)] ?? 500;
}

const UNAVAILABLE = "database unavailable, retry later";

/** Any error of a request as the HTTP error to answer with (4xx with the reason; 5xx without internals). */
export function toHttpError(err: unknown, retryAfterSeconds: number): HttpError {
  if (err instanceof HttpError) return err;
  const retry = { "Retry-After": String(retryAfterSeconds) };
  if (err instanceof DatabaseError) {
    const status = statusForSqlstate(err.sqlstate);
    if (status === 503) return new HttpError(503, UNAVAILABLE, retry, err.sqlstate);
    if (status >= 500) return new HttpError(status, "internal error", {}, err.sqlstate);
    return new HttpError(status, err.message, {}, err.sqlstate);
  }
  if (err instanceof DatabaseUnavailable) return new HttpError(503, UNAVAILABLE, retry);
  return new HttpError(500, "internal error");
}
