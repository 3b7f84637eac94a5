// The one module that holds service-role powers: the service role key (to recognise it) and the
// database client that runs the SQL API as service_role. Nothing connects at import time: postgres.js
// opens its connections on the first query.
//
// There is no PostgREST in the way: the function connects with SUPABASE_DB_URL (which Supabase gives
// every edge function) and runs each call in a transaction exactly as PostgREST runs a request made
// with the service role key: `set local role service_role` and service_role claims in
// request.jwt.claims. Driver errors are converted here, in one place, into DatabaseError (the server
// answered with a SQLSTATE) or DatabaseUnavailable (it could not be reached or the connection broke).

import { createHash, timingSafeEqual } from "node:crypto";
import postgres from "postgres";

import { DatabaseError, DatabaseUnavailable } from "./errors.ts";
import { type Env, optional, positiveInt, required } from "./env.ts";

export interface Admin {
  /** Whether SUPABASE_SERVICE_ROLE_KEY is set (else only JWTs can authorise). */
  readonly hasServiceRoleKey: boolean;
  /** Whether `token` is this project's service role key (constant time). */
  isServiceRoleKey(token: string): boolean;
  /** `public.append_execution_logs(entries)` as service_role; its JSON result as text. */
  appendExecutionLogs(entriesJson: string): Promise<string>;
  close(): Promise<void>;
}

const SERVICE_ROLE_TX =
  "set local role service_role; " +
  "select set_config('request.jwt.claims', '{\"role\":\"service_role\"}', true)";

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

export function createAdmin(env: Env): Admin {
  const databaseUrl = required(env, "SUPABASE_DB_URL");
  const serviceRoleKey = optional(env, "SUPABASE_SERVICE_ROLE_KEY");
  const keyDigest = serviceRoleKey === null ? null : digest(serviceRoleKey);
  const sql = postgres(databaseUrl, {
    max: positiveInt(env, "WORKFLOW_LOGS_POOL_MAX", 3),
    idle_timeout: 30,
    connect_timeout: 10,
    // Supabase's SUPABASE_DB_URL may point at the transaction pooler, which cannot keep prepared
    // statements; unnamed statements cost one round trip all the same.
    prepare: false,
    onnotice: () => {},
    connection: { application_name: "workflow-logs ingest-logs" },
  });

  return {
    hasServiceRoleKey: keyDigest !== null,

    isServiceRoleKey(token: string): boolean {
      return keyDigest !== null && timingSafeEqual(digest(token), keyDigest);
    },

    async appendExecutionLogs(entriesJson: string): Promise<string> {
      try {
        const [row] = await sql.begin(async (tx) => {
          await tx.unsafe(SERVICE_ROLE_TX);
          return await tx`select public.append_execution_logs(${entriesJson}::text::jsonb)::text as result`;
        });
        return row.result as string;
      } catch (err) {
        throw convert(err);
      }
    },

    async close(): Promise<void> {
      await sql.end({ timeout: 5 });
    },
  };
}

function convert(err: unknown): Error {
  if (err instanceof postgres.PostgresError) return new DatabaseError(err.code, err.message);
  // Connection refused/reset/closed, connect timeout, DNS: the driver's own errors and the runtime's.
  const detail = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
  return new DatabaseUnavailable(detail);
}
