/**
 * Fault injection, shared by every provider emulator: API faults (5xx, timeout, latency, 429), answered by the kit's
 * server before any processing, and webhook faults (duplicate, reorder, delay, drop, endpoint down), applied by the
 * kit's webhook sender. Deterministic modes (`next: N`, `types: [...]`, `endpoint: id|url`) are preferred by tests;
 * probabilities use a seeded RNG (`seed`) so runs are reproducible.
 */
export interface ApiFaultRule {
  /** Affect the next N matching requests (decremented on each hit). */
  next?: number;
  /** Or affect each matching request with this probability (0..1), drawn from the seeded RNG. */
  probability?: number;
  /** Only requests whose path starts with this (e.g. `/v1/refunds`, `/v2/checkout/orders`). */
  path?: string;
  /** Only this HTTP method (e.g. `POST`). */
  method?: string;
}

export interface WebhookDropRule {
  next?: number;
  probability?: number;
  /** Drop every delivery of these event types (exact names). */
  types?: string[];
}

export interface EndpointFailureRule {
  /** Endpoint id (as the provider names it, e.g. `we_…`) or URL. */
  endpoint: string;
  /** `skip`: the emulator records a failure without calling; `call`: it calls, then counts the attempt as failed. */
  mode?: 'skip' | 'call';
  /** Fail only this many attempts, then the endpoint recovers (undefined = down until reset). */
  failures?: number;
}

export interface FaultConfig {
  /** Seed for probability-based faults. */
  seed: number;
  /** Each delivery is sent this many times (1 = normal). */
  webhookDuplicates: number;
  /** Deliveries queued within `windowMs` are held and released together, reversed or shuffled. */
  webhookReorder: { windowMs: number; mode?: 'reverse' | 'shuffle' } | null;
  /** Extra delay (clock ms, not scaled) before each delivery attempt. */
  webhookDelayMs: number;
  /** Deliveries that are never sent (recorded as `dropped`; the provider keeps the event, undelivered). */
  webhookDrop: WebhookDropRule | null;
  /** Endpoints treated as down. */
  endpointFailures: EndpointFailureRule[];
  /** Answer matching API requests with a 5xx (before any processing, so nothing is stored). */
  api5xx: (ApiFaultRule & { status?: number }) | null;
  /** Hold matching API requests for `ms` (default 30 s) then drop the connection, without processing them. */
  apiTimeout: (ApiFaultRule & { ms?: number }) | null;
  /** Added latency (real ms) on every API request matching `apiLatencyPath` (all if null). */
  apiLatencyMs: number;
  apiLatencyPath: string | null;
  /** Answer matching API requests with 429 (rendered in the provider's error shape). */
  apiRateLimit: ApiFaultRule | null;
}

/** The API fault chosen for one request. */
export type ApiFault = { kind: 'timeout'; ms: number } | { kind: '5xx'; status: number } | { kind: '429' };

export function defaultFaults(): FaultConfig {
  return {
    seed: 1,
    webhookDuplicates: 1,
    webhookReorder: null,
    webhookDelayMs: 0,
    webhookDrop: null,
    endpointFailures: [],
    api5xx: null,
    apiTimeout: null,
    apiLatencyMs: 0,
    apiLatencyPath: null,
    apiRateLimit: null,
  };
}

/** mulberry32: small, fast, seedable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Faults {
  private config: FaultConfig;
  private random: () => number;

  constructor(initial?: Partial<FaultConfig>) {
    this.config = { ...defaultFaults(), ...clone(initial ?? {}) };
    this.random = rng(this.config.seed);
  }

  get(): FaultConfig {
    return clone(this.config);
  }

  set(f: Partial<FaultConfig>): void {
    this.config = { ...this.config, ...clone(f) };
    if (f.seed !== undefined) this.random = rng(f.seed);
  }

  reset(): void {
    this.config = defaultFaults();
    this.random = rng(this.config.seed);
  }

  /** Read-only view of the live config (mutated by the take* helpers). */
  get current(): FaultConfig {
    return this.config;
  }

  private hit(rule: ApiFaultRule | WebhookDropRule): boolean {
    if (rule.next !== undefined && rule.next > 0) {
      rule.next -= 1;
      return true;
    }
    if (rule.probability !== undefined && rule.probability > 0) return this.random() < rule.probability;
    return false;
  }

  private matches(rule: ApiFaultRule, method: string, path: string): boolean {
    if (rule.path && !path.startsWith(rule.path)) return false;
    if (rule.method && rule.method.toUpperCase() !== method.toUpperCase()) return false;
    return true;
  }

  /** Decides the API fault for one request (at most one; checked in order timeout, 5xx, 429). */
  takeApiFault(method: string, path: string): ApiFault | null {
    const c = this.config;
    if (c.apiTimeout && this.matches(c.apiTimeout, method, path) && this.hit(c.apiTimeout))
      return { kind: 'timeout', ms: c.apiTimeout.ms ?? 30_000 };
    if (c.api5xx && this.matches(c.api5xx, method, path) && this.hit(c.api5xx))
      return { kind: '5xx', status: c.api5xx.status ?? 500 };
    if (c.apiRateLimit && this.matches(c.apiRateLimit, method, path) && this.hit(c.apiRateLimit))
      return { kind: '429' };
    return null;
  }

  latencyFor(path: string): number {
    const c = this.config;
    if (c.apiLatencyMs <= 0) return 0;
    if (c.apiLatencyPath && !path.startsWith(c.apiLatencyPath)) return 0;
    return c.apiLatencyMs;
  }

  shouldDrop(type: string): boolean {
    const d = this.config.webhookDrop;
    if (!d) return false;
    if (d.types?.includes(type)) return true;
    return this.hit(d);
  }

  /** Returns the failure mode if this endpoint is down for this attempt (consumes one `failures`). */
  endpointFailure(endpointId: string, url: string): 'skip' | 'call' | null {
    for (const rule of this.config.endpointFailures) {
      if (rule.endpoint !== endpointId && rule.endpoint !== url) continue;
      if (rule.failures !== undefined) {
        if (rule.failures <= 0) continue;
        rule.failures -= 1;
      }
      return rule.mode ?? 'skip';
    }
    return null;
  }

  shuffle<T>(items: T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }
}

function clone<T>(v: T): T {
  return structuredClone(v);
}
