// Who may call a service function: the bearer of the service role key, or of an HS256 JWT signed with
// the project's JWT secret whose role is service_role. The checks and messages are the bridge's
// (bridge/workflow_logs_bridge/auth.py): exp required, alg none refused, 401 for a bad token, 403 for a
// good token of another role.

import * as jose from "jose";

import { AuthError, ForbiddenError } from "./errors.ts";

const ROLES = new Set(["authenticated", "service_role", "anon"]);
const LEEWAY_SECONDS = 5;

export interface ServiceAuthOptions {
  /** SUPABASE_JWT_SECRET / JWT_SECRET; null when only the key itself is accepted. */
  jwtSecret: string | null;
  isServiceRoleKey(token: string): boolean;
  audience?: string;
}

/** Throws AuthError (401) or ForbiddenError (403) unless the request carries the service role. */
export type Authorize = (authorization: string | null) => Promise<void>;

export function serviceRoleAuthorizer(options: ServiceAuthOptions): Authorize {
  const secret = options.jwtSecret === null ? null : new TextEncoder().encode(options.jwtSecret);
  const audience = options.audience ?? "authenticated";

  return async (authorization) => {
    const token = bearerToken(authorization);
    if (options.isServiceRoleKey(token)) return;
    const claims = await verify(token, secret, audience);
    if (claims.role !== "service_role") throw new ForbiddenError("only the service role may write logs");
  };
}

function bearerToken(authorization: string | null): string {
  if (!authorization) {
    throw new AuthError("missing token: send Authorization: Bearer <token>");
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match) throw new AuthError("malformed Authorization header: expected 'Bearer <token>'");
  return match[1];
}

async function verify(token: string, secret: Uint8Array | null, audience: string): Promise<jose.JWTPayload> {
  let header: jose.ProtectedHeaderParameters;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch {
    throw new AuthError("malformed token");
  }
  const alg = header.alg;
  if (!alg || String(alg).toLowerCase() === "none") {
    throw new AuthError("unsigned tokens (alg none) are refused");
  }
  if (alg !== "HS256") throw new AuthError(`unsupported token algorithm ${alg}`);
  if (secret === null) {
    throw new AuthError("HS256 tokens are not accepted here (no JWT secret configured); send the service role key");
  }
  let payload: jose.JWTPayload;
  try {
    ({ payload } = await jose.jwtVerify(token, secret, {
      algorithms: ["HS256"],
      requiredClaims: ["exp"],
      clockTolerance: LEEWAY_SECONDS,
    }));
  } catch (err) {
    if (err instanceof jose.errors.JWTExpired) throw new AuthError("token expired");
    if (err instanceof jose.errors.JWSSignatureVerificationFailed) throw new AuthError("invalid token signature");
    if (err instanceof jose.errors.JWTClaimValidationFailed && err.reason === "missing") {
      throw new AuthError(`token is missing the ${err.claim} claim`);
    }
    throw new AuthError(`invalid token: ${err instanceof Error ? err.message : String(err)}`);
  }
  const role = payload.role;
  if (typeof role !== "string" || !ROLES.has(role)) {
    throw new AuthError(`token role must be one of ${[...ROLES].sort().join(", ")}`);
  }
  if (role === "authenticated") {
    const auds = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!auds.includes(audience)) throw new AuthError(`token audience must be ${audience}`);
    if (!payload.sub) throw new AuthError("token has no sub claim");
  }
  return payload;
}
