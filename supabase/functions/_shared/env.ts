// Reading the function's environment: once, at start-up, into plain values (never inside a request).

/** What the function reads its settings from: `Deno.env` in production, a Map in tests. */
export interface Env {
  get(name: string): string | undefined;
}

export function optional(env: Env, name: string): string | null {
  const value = env.get(name)?.trim();
  return value ? value : null;
}

export function required(env: Env, name: string): string {
  const value = optional(env, name);
  if (value === null) throw new Error(`${name} is not set`);
  return value;
}

export function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    throw new Error(`${name} must be a positive integer (got ${JSON.stringify(raw)})`);
  }
  return Number(raw);
}
