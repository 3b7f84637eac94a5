// ingest-logs: the bridge's POST /v2/executions/{execution_id}/logs as a Supabase edge function.
//
// Environment (Supabase sets the first two for every function):
//   SUPABASE_DB_URL             Postgres the function writes to (as service_role, through append_execution_logs)
//   SUPABASE_SERVICE_ROLE_KEY   a bearer equal to it is the service role
//   SUPABASE_JWT_SECRET / JWT_SECRET   optional: also accept HS256 JWTs with role service_role
//   WORKFLOW_LOGS_MAX_INGEST_BYTES / _ENTRIES, WORKFLOW_LOGS_RETRY_AFTER, WORKFLOW_LOGS_POOL_MAX
//
// Locally: DENO_SERVE_ADDRESS=tcp:127.0.0.1:8787 deno run --allow-net --allow-env
//            --config supabase/functions/ingest-logs/deno.json supabase/functions/ingest-logs/index.ts

import { createAdmin } from "../_shared/admin.ts";
import { serviceRoleAuthorizer } from "../_shared/auth.ts";
import { optional } from "../_shared/env.ts";
import { createHandler, limitsFrom } from "./handler.ts";

const env = Deno.env;
const admin = createAdmin(env);
const jwtSecret = optional(env, "SUPABASE_JWT_SECRET") ?? optional(env, "JWT_SECRET");
if (jwtSecret === null && !admin.hasServiceRoleKey) {
  throw new Error(
    "set SUPABASE_SERVICE_ROLE_KEY and/or SUPABASE_JWT_SECRET: nothing could call this function",
  );
}

Deno.serve(
  createHandler({
    limits: limitsFrom(env),
    authorize: serviceRoleAuthorizer({ jwtSecret, isServiceRoleKey: admin.isServiceRoleKey }),
    append: admin.appendExecutionLogs,
  }),
);
