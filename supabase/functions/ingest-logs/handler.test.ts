// The ingest-logs handler without a database: routing, auth, body shapes, limits, error mapping.
// (tests/edge/test_ingest_function.py runs the real function against Postgres.)

import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import * as jose from "jose";

import { createAdmin } from "../_shared/admin.ts";
import { serviceRoleAuthorizer } from "../_shared/auth.ts";
import { DatabaseError, DatabaseUnavailable } from "../_shared/errors.ts";
import { createHandler, executionIdOf, type IngestDeps, limitsFrom } from "./handler.ts";

const SECRET = "test-secret-of-at-least-thirty-two-characters-0000";
const KEY = "sb_secret_test_service_role_key";
const RESULT = '{"inserted": 1, "duplicates": 0, "last_seq": 7}';

async function token(claims: Record<string, unknown>, opts: { secret?: string; exp?: number | null } = {}) {
  const jwt = new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt();
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 600);
  return await jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

function unsigned(claims: Record<string, unknown>): string {
  const b64 = (v: unknown) =>
    btoa(JSON.stringify(v)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  return `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`;
}

interface Harness {
  handle: (req: Request) => Promise<Response>;
  calls: unknown[][];
}

function harness(overrides: Partial<IngestDeps> = {}, env: Record<string, string> = {}): Harness {
  const calls: unknown[][] = [];
  const handle = createHandler({
    limits: limitsFrom(new Map(Object.entries(env))),
    authorize: serviceRoleAuthorizer({ jwtSecret: SECRET, isServiceRoleKey: (t) => t === KEY }),
    append: (json) => {
      calls.push(JSON.parse(json));
      return Promise.resolve(RESULT);
    },
    log: () => {},
    ...overrides,
  });
  return { handle, calls };
}

function post(path: string, body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request(`http://fn.test${path}`, {
    method: "POST",
    body,
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json", ...headers },
  });
}

const PATH = "/v2/executions/exec-1/logs";
const entry = (message = "hello", extra: Record<string, unknown> = {}) => ({
  message,
  event_type: "workflow_progress",
  ...extra,
});

async function expectError(res: Response, status: number, detail: RegExp) {
  equal(res.status, status);
  equal(res.headers.get("content-type"), "application/json");
  const body = await res.json();
  match(body.detail, detail);
  equal(body.request_id, res.headers.get("x-request-id"));
  ok(body.request_id);
  return body;
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------
Deno.test("the contract path is served bare, behind the function name and behind /functions/v1", () => {
  equal(executionIdOf("/v2/executions/exec-1/logs"), "exec-1");
  equal(executionIdOf("/ingest-logs/v2/executions/exec-1/logs"), "exec-1");
  equal(executionIdOf("/functions/v1/ingest-logs/v2/executions/exec-1/logs"), "exec-1");
  equal(executionIdOf("/ingest-logs/v2/executions/a%20b%3Fc%2Fd/logs"), "a b?c/d");
  equal(executionIdOf("/ingest-logs"), null);
  equal(executionIdOf("/other-function/v2/executions/exec-1/logs"), null);
  equal(executionIdOf("/v2/executions/exec-1/logs/summary"), null);
  equal(executionIdOf("/v2/executions/%E0%A4%A/logs"), null);
});

Deno.test("an unknown path is a 404 with the bridge's body", async () => {
  const { handle } = harness();
  await expectError(await handle(post("/ingest-logs/v1/whatever", "[]")), 404, /^Not Found$/);
});

Deno.test("a method other than POST is a 405 naming POST", async () => {
  const { handle, calls } = harness();
  const res = await handle(new Request(`http://fn.test/ingest-logs${PATH}`, { method: "GET" }));
  await expectError(res, 405, /^Method Not Allowed$/);
  equal(res.headers.get("allow"), "POST");
  equal(calls.length, 0);
});

// ---------------------------------------------------------------------------------------------
// Authorisation
// ---------------------------------------------------------------------------------------------
Deno.test("the service role key and a service_role JWT are accepted", async () => {
  const { handle, calls } = harness();
  equal((await handle(post(PATH, JSON.stringify([entry()])))).status, 200);
  const jwt = await token({ role: "service_role" });
  equal(
    (await handle(post(PATH, JSON.stringify([entry()]), { Authorization: `Bearer ${jwt}` }))).status,
    200,
  );
  equal(calls.length, 2);
});

Deno.test("a missing, malformed, unsigned, expired, foreign or exp-less token is a 401 and writes nothing", async () => {
  const { handle, calls } = harness();
  const body = JSON.stringify([entry()]);
  const cases: [Record<string, string>, RegExp][] = [
    [{ Authorization: "" }, /^missing token/],
    [{ Authorization: `Basic ${btoa("a:b")}` }, /^malformed Authorization header/],
    [{ Authorization: "Bearer not-a-jwt" }, /^malformed token$/],
    [{ Authorization: `Bearer ${unsigned({ role: "service_role", exp: 4102444800 })}` }, /alg none/],
    [{ Authorization: `Bearer ${await token({ role: "service_role" }, { exp: 1000 })}` }, /^token expired$/],
    [
      { Authorization: `Bearer ${await token({ role: "service_role" }, { secret: SECRET + "x" })}` },
      /signature/,
    ],
    [
      { Authorization: `Bearer ${await token({ role: "service_role" }, { exp: null })}` },
      /missing the exp claim/,
    ],
    [{ Authorization: `Bearer ${await token({ role: "postgres" })}` }, /^token role must be one of/],
  ];
  for (const [headers, detail] of cases) {
    const res = await handle(post(PATH, body, headers));
    await expectError(res, 401, detail);
    equal(res.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
  }
  equal(calls.length, 0);
});

Deno.test("a valid token of another role is a 403", async () => {
  const { handle, calls } = harness();
  const user = await token({ role: "authenticated", aud: "authenticated", sub: crypto.randomUUID() });
  const anon = await token({ role: "anon" });
  for (const t of [user, anon]) {
    await expectError(
      await handle(post(PATH, "[]", { Authorization: `Bearer ${t}` })),
      403,
      /only the service role/,
    );
  }
  equal(calls.length, 0);
});

Deno.test("without a JWT secret only the key itself is accepted", async () => {
  const { handle } = harness({
    authorize: serviceRoleAuthorizer({ jwtSecret: null, isServiceRoleKey: (t) => t === KEY }),
  });
  equal((await handle(post(PATH, "[]"))).status, 200);
  const jwt = await token({ role: "service_role" });
  await expectError(await handle(post(PATH, "[]", { Authorization: `Bearer ${jwt}` })), 401, /no JWT secret/);
});

Deno.test("the admin module recognises its key in constant time and nothing else", () => {
  const admin = createAdmin(
    new Map([["SUPABASE_DB_URL", "postgres://u@127.0.0.1:1/db"], ["SUPABASE_SERVICE_ROLE_KEY", KEY]]),
  );
  ok(admin.hasServiceRoleKey);
  ok(admin.isServiceRoleKey(KEY));
  ok(!admin.isServiceRoleKey(KEY + "x"));
  ok(!admin.isServiceRoleKey(""));
  const keyless = createAdmin(new Map([["SUPABASE_DB_URL", "postgres://u@127.0.0.1:1/db"]]));
  ok(!keyless.hasServiceRoleKey && !keyless.isServiceRoleKey(""));
});

// ---------------------------------------------------------------------------------------------
// Body shapes
// ---------------------------------------------------------------------------------------------
Deno.test("an array and {logs: [...]} are both accepted; entries get the path's execution id", async () => {
  const { handle, calls } = harness();
  const res = await handle(post(PATH, JSON.stringify([entry("a")])));
  equal(res.status, 200);
  equal(await res.text(), RESULT);
  equal(
    (await handle(post(PATH, JSON.stringify({ logs: [entry("b", { execution_id: "exec-1" })] })))).status,
    200,
  );
  deepEqual(calls, [[{ ...entry("a"), execution_id: "exec-1" }], [{
    ...entry("b"),
    execution_id: "exec-1",
  }]]);
});

Deno.test("an empty batch reaches the database (which answers 0 inserted), like the bridge", async () => {
  const { handle, calls } = harness();
  equal((await handle(post(PATH, "[]"))).status, 200);
  deepEqual(calls, [[]]);
});

Deno.test("invalid JSON, a non-array body and {logs} that is not an array are 422", async () => {
  const { handle, calls } = harness();
  await expectError(await handle(post(PATH, "[{")), 422, /^body is not valid JSON/);
  await expectError(await handle(post(PATH, "")), 422, /^body is not valid JSON/);
  await expectError(
    await handle(post(PATH, new Uint8Array([0x5b, 0xff, 0x5d]))),
    422,
    /^body is not valid JSON/,
  );
  for (const body of ['{"entries": []}', '{"logs": 3}', '"text"', "42", "null"]) {
    await expectError(await handle(post(PATH, body)), 422, /^body must be a JSON array of log entries/);
  }
  equal(calls.length, 0);
});

Deno.test("an entry naming another execution than the path is a 422 naming the entry", async () => {
  const { handle, calls } = harness();
  const body = JSON.stringify([entry("ok"), entry("x", { execution_id: "exec-2" })]);
  await expectError(
    await handle(post(PATH, body)),
    422,
    /^logs\[1\]\.execution_id is 'exec-2' but the path names 'exec-1'$/,
  );
  await expectError(
    await handle(post(PATH, JSON.stringify([entry("x", { execution_id: null })]))),
    422,
    /is None/,
  );
  equal(calls.length, 0);
});

Deno.test("entries that are not objects are passed on for the SQL function to name", async () => {
  const { handle, calls } = harness();
  equal((await handle(post(PATH, "[1]"))).status, 200);
  deepEqual(calls, [[1]]);
});

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------
Deno.test("a body declared over the byte limit is a 413 before it is read", async () => {
  const { handle } = harness({}, { WORKFLOW_LOGS_MAX_INGEST_BYTES: "100" });
  const res = await handle(post(PATH, "[]", { "Content-Length": "101" }));
  await expectError(res, 413, /^request body is 101 bytes; the limit is 100$/);
});

Deno.test("a streamed body over the byte limit is a 413 however it is framed", async () => {
  const { handle, calls } = harness({}, { WORKFLOW_LOGS_MAX_INGEST_BYTES: "100" });
  const chunks = [new TextEncoder().encode("[" + '"xxxx",'.repeat(20)), new TextEncoder().encode('"y"]')];
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
  await expectError(await handle(post(PATH, stream)), 413, /^request body exceeds the limit of 100 bytes$/);
  equal(calls.length, 0);
});

Deno.test("a batch over the entry limit is a 413; at the limit it is written", async () => {
  const { handle, calls } = harness({}, { WORKFLOW_LOGS_MAX_INGEST_ENTRIES: "3" });
  const over = JSON.stringify({ logs: [entry(), entry(), entry(), entry()] });
  await expectError(await handle(post(PATH, over)), 413, /^batch holds 4 entries; the limit is 3$/);
  equal((await handle(post(PATH, JSON.stringify([entry(), entry(), entry()])))).status, 200);
  equal(calls.length, 1);
});

Deno.test("limits come from the bridge's variables and refuse nonsense", () => {
  deepEqual(limitsFrom(new Map()), {
    maxIngestBytes: 8 * 1024 * 1024,
    maxIngestEntries: 5000,
    retryAfterSeconds: 5,
  });
  for (const bad of ["0", "-1", "1.5", "lots"]) {
    let threw = false;
    try {
      limitsFrom(new Map([["WORKFLOW_LOGS_MAX_INGEST_ENTRIES", bad]]));
    } catch (err) {
      threw = true;
      match(String(err), /WORKFLOW_LOGS_MAX_INGEST_ENTRIES must be a positive integer/);
    }
    ok(threw, bad);
  }
});

// ---------------------------------------------------------------------------------------------
// Database errors
// ---------------------------------------------------------------------------------------------
Deno.test("SQL errors map as the bridge maps them; 5xx bodies leak nothing", async () => {
  const cases: [Error, number, RegExp, string | undefined][] = [
    [new DatabaseError("22023", "logs[0]: level must be one of ..."), 422, /^logs\[0\]: level/, "22023"],
    [new DatabaseError("22001", "logs[2]: entry is 20000 bytes"), 422, /^logs\[2\]: entry/, "22001"],
    [
      new DatabaseError("23503", "logs: execution nope does not exist"),
      404,
      /execution nope does not exist/,
      "23503",
    ],
    [new DatabaseError("P0002", "execution x not found"), 404, /not found/, "P0002"],
    [new DatabaseError("42501", "permission denied for function"), 403, /permission denied/, "42501"],
    [new DatabaseError("XX000", "secret internals at /var/lib"), 500, /^internal error$/, "XX000"],
    [
      new DatabaseError("57014", "canceling statement due to statement timeout"),
      503,
      /^database unavailable/,
      "57014",
    ],
    [
      new DatabaseUnavailable("ECONNREFUSED: 127.0.0.1:5432"),
      503,
      /^database unavailable, retry later$/,
      undefined,
    ],
    [new TypeError("a bug"), 500, /^internal error$/, undefined],
  ];
  for (const [error, status, detail, code] of cases) {
    const logged: Record<string, unknown>[] = [];
    const { handle } = harness({ append: () => Promise.reject(error), log: (l) => logged.push(l) });
    const res = await handle(post(PATH, JSON.stringify([entry()]), { "X-Request-ID": "req-42" }));
    const body = await expectError(res, status, detail);
    equal(body.request_id, "req-42");
    equal(body.code, code);
    if (status === 503) equal(res.headers.get("retry-after"), "5");
    if (status >= 500) {
      ok(!JSON.stringify(body).includes("/var/lib") && !JSON.stringify(body).includes("ECONNREFUSED"));
      ok(logged.some((l) => l.level === "error"), "a 5xx is logged with its cause");
    }
  }
});

Deno.test("an unreachable database is a DatabaseUnavailable (503), not a 500", async () => {
  const admin = createAdmin(new Map([["SUPABASE_DB_URL", "postgres://nobody@127.0.0.1:1/nothing"]]));
  try {
    await rejects(admin.appendExecutionLogs("[]"), DatabaseUnavailable);
  } finally {
    await admin.close();
  }
});

Deno.test("request ids are echoed when safe and generated otherwise; no token reaches the log", async () => {
  const logged: Record<string, unknown>[] = [];
  const { handle } = harness({ log: (l) => logged.push(l) });
  const ok1 = await handle(post(PATH + "?access_token=abc", "[]", { "X-Request-ID": "abc-123" }));
  equal(ok1.headers.get("x-request-id"), "abc-123");
  const res = await handle(post(PATH, "[]", { "X-Request-ID": "bad id\n" }));
  match(res.headers.get("x-request-id") ?? "", /^[0-9a-f]{32}$/);
  const text = JSON.stringify(logged);
  ok(!text.includes(KEY) && !text.includes("access_token"));
  equal(logged[0].path, `${PATH}`);
  equal(logged[0].status, 200);
});
