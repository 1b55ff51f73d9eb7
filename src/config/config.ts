import { z } from 'zod';
import { CRASH_POINTS, type CrashPointName } from '../core/crash-points.js';
import { SettleError } from '../core/errors.js';
import { parseSealingKey, type SealingKeys } from '../core/sealed.js';

/**
 * The one place that reads process.env. Everything else receives a typed, validated `Config`.
 * Every variable is documented in docs/configuration.md; keep the two in step.
 */

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Bits an operator token must be able to carry (estimated from its length and character classes). */
export const MIN_ADMIN_TOKEN_BITS = 80;

/**
 * A rough upper bound of a secret's entropy: length × log2(size of the character classes it uses), where a
 * hex-only string counts 16 symbols. A random token reaches it; a typed one (`aaaa…`, `abcabc…`) is caught by
 * `looksTyped()` instead.
 */
export function estimateSecretBits(secret: string): number {
  if (secret.length === 0) return 0;
  let pool: number;
  if (/^[0-9a-f]+$/.test(secret) || /^[0-9A-F]+$/.test(secret)) pool = 16;
  else {
    pool = 0;
    if (/[a-z]/.test(secret)) pool += 26;
    if (/[A-Z]/.test(secret)) pool += 26;
    if (/[0-9]/.test(secret)) pool += 10;
    if (/[^A-Za-z0-9]/.test(secret)) pool += 32;
  }
  return secret.length * Math.log2(pool);
}

/**
 * True for a string a person or a counter made rather than a random source: fewer than 6 distinct characters,
 * a repeated pattern (`abcabcabc…`), or mostly repeats and ±1 steps (`aaaa…`, `abcdef…`, `0123…`).
 */
export function looksTyped(s: string): boolean {
  if (new Set(s).size < 6) return true;
  for (let p = 1; p <= s.length / 2; p++) {
    let periodic = true;
    for (let i = p; i < s.length && periodic; i++) periodic = s[i] === s[i - p];
    if (periodic) return true;
  }
  let steps = 0;
  for (let i = 1; i < s.length; i++) {
    if (Math.abs(s.charCodeAt(i) - s.charCodeAt(i - 1)) <= 1) steps++;
  }
  return steps >= (3 * (s.length - 1)) / 4;
}

/** Why `token` is not acceptable as SETTLE_ADMIN_TOKEN, or null. Never echoes the token. */
export function adminTokenProblem(token: string): string | null {
  if (!/^[\x21-\x7e]+$/.test(token))
    return 'must be printable ASCII without spaces (it is sent as an Authorization: Bearer header)';
  if (looksTyped(token) || estimateSecretBits(token) < MIN_ADMIN_TOKEN_BITS)
    return `is too easy to guess: use a random value of at least ${MIN_ADMIN_TOKEN_BITS} bits, e.g. \`openssl rand -base64 32\` (a repeated or sequential string is refused)`;
  return null;
}

/** A webhook signing secret: `whsec_` followed by its content (the prefix alone is a truncated paste). */
const WEBHOOK_SECRET_RE = /^whsec_[A-Za-z0-9_+/=-]*[A-Za-z0-9][A-Za-z0-9_+/=-]*$/;

const schema = z
  .object({
    PORT: int(0, 65535).default(3000),
    HOST: z.string().min(1).default('127.0.0.1'),
    PUBLIC_URL: z.url().optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    DATABASE_POOL_MAX: int(1, 500).default(10),
    // Repeated statements named (parsed and planned once per connection); off behind a pooler that cannot keep them.
    DATABASE_PREPARED_STATEMENTS: bool.default(true),
    SETTLE_DATA_DIR: z.string().min(1).default('.settle'),
    // Shared rate-limit counters in Redis instead of PostgreSQL (several instances share one budget either way).
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),

    // Strength (adminTokenProblem) is checked with the other cross-variable rules in loadConfig.
    SETTLE_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),

    STRIPE_SECRET_KEY: z
      .string()
      .regex(
        /^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/,
        'must look like sk_test_… or sk_live_… (a restricted rk_ key also works)',
      )
      .optional(),
    STRIPE_API_BASE: z.url().optional(),
    STRIPE_WEBHOOK_SECRET: z.string().optional(),
    STRIPE_CONNECT_WEBHOOK_SECRET: z.string().optional(),
    STRIPE_MAX_NETWORK_RETRIES: int(0, 10).default(2),

    // PayPal is on when both credentials are set (the REST app's client id and secret).
    PAYPAL_CLIENT_ID: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'must be the REST app client ID (letters, digits, _ and -)')
      .optional(),
    PAYPAL_CLIENT_SECRET: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'must be the REST app secret (letters, digits, _ and -)')
      .optional(),
    PAYPAL_MODE: z.enum(['sandbox', 'live']).default('sandbox'),
    PAYPAL_WEBHOOK_ID: z
      .string()
      .regex(
        /^[A-Za-z0-9_-]{1,64}$/,
        'must be the webhook ID PayPal shows for the subscription (e.g. 8PT597110X687430LKGECATA)',
      )
      .optional(),
    PAYPAL_PARTNER_ATTRIBUTION_ID: z
      .string()
      .regex(
        /^[A-Za-z0-9_.-]{1,36}$/,
        'must be the BN code PayPal assigned to the platform (1–36 letters, digits, _ . -)',
      )
      .optional(),
    PAYPAL_PARTNER_MERCHANT_ID: z
      .string()
      .regex(/^[A-Za-z0-9]{1,64}$/, "must be the platform's PayPal merchant (payer) ID, letters and digits")
      .optional(),
    PAYPAL_API_BASE: z.url().optional(),
    PAYPAL_MAX_NETWORK_RETRIES: int(0, 10).default(2),

    // Square is on when the application's id and secret are both set (Developer Console → Credentials).
    SQUARE_APPLICATION_ID: z
      .string()
      .regex(
        /^(sandbox-)?sq0idp?[a-z]?-[A-Za-z0-9_-]+$/,
        'must be the Square application ID (sq0idp-… in production, sandbox-sq0idb-… in sandbox)',
      )
      .optional(),
    SQUARE_APPLICATION_SECRET: z
      .string()
      .regex(
        /^(sandbox-)?sq0csp?[a-z]?-[A-Za-z0-9_-]+$/,
        'must be the Square application secret (sq0csp-… in production, sandbox-sq0csb-… in sandbox)',
      )
      .optional(),
    // The application's own (developer account's) access token: webhook subscriptions and the events search.
    SQUARE_ACCESS_TOKEN: z
      .string()
      .regex(/^[A-Za-z0-9_-]{20,}$/, "must be the application's access token (EAAA…)")
      .optional(),
    SQUARE_WEBHOOK_SIGNATURE_KEY: z.string().min(1).optional(),
    SQUARE_WEBHOOK_URL: z.url().optional(),
    SQUARE_ENVIRONMENT: z.enum(['sandbox', 'production']).optional(),
    SQUARE_API_BASE: z.url().optional(),
    SQUARE_MAX_NETWORK_RETRIES: int(0, 10).default(2),
    // Seller OAuth tokens are sealed with this key (AES-256-GCM); previous keys still open older values (rotation).
    SETTLE_ENCRYPTION_KEY: z.string().optional(),
    SETTLE_ENCRYPTION_KEY_PREVIOUS: z.string().optional(),

    // Stripe requires expires_at 30 min–24 h after session creation; the session is created just after the hold,
    // so the hold must be a little over 30 minutes.
    SETTLE_HOLD_MINUTES: int(31, 1440).default(35),
    // A delayed payment (bank debit) keeps its place while the provider settles it (SEPA takes up to 14 days).
    SETTLE_PROCESSING_HOLD_DAYS: int(1, 90).default(14),
    // Subscriptions (issue 13): a past_due member keeps access this many days while the provider retries the card.
    SETTLE_SUBSCRIPTION_GRACE_DAYS: int(0, 60).default(3),
    // Test mode only: each subscription's customer gets its own Stripe test clock, advanced from the console.
    // Default: on in demo mode (the emulator), off with a real test key.
    SETTLE_STRIPE_TEST_CLOCKS: bool.optional(),
    // Retention of operational rows (orders, payments, refunds, disputes and order history are never purged).
    // At least 4: above Stripe's 3-day retry horizon and the reconciler's 72 h look-back.
    SETTLE_RETENTION_WEBHOOK_DAYS: int(4, 3650).default(30),
    SETTLE_RETENTION_JOBS_DAYS: int(1, 3650).default(30),
    SETTLE_RETENTION_HOLDS_DAYS: int(1, 3650).default(30),
    SETTLE_RETENTION_NOTIFICATIONS_DAYS: int(1, 3650).default(180),
    SETTLE_FEE_BPS: int(0, 10_000).default(1000),
    SETTLE_FEE_FIXED: int(0, 1_000_000_000).default(0),
    SETTLE_RECONCILE_INTERVAL_SECONDS: int(0, 86_400).default(300),
    SETTLE_QUEUE_POLL_MS: int(10, 60_000).default(500),
    SETTLE_RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default(60),
    SETTLE_TRUST_PROXY: bool.default(false),
    SETTLE_EMULATOR_PORT: int(0, 65535).default(12111),
    SETTLE_PAYPAL_EMULATOR_PORT: int(0, 65535).default(12112),
    SETTLE_SQUARE_EMULATOR_PORT: int(0, 65535).default(12113),
    SETTLE_DEMO_SEED: bool.default(true),
    // Test-only (reliability harness): kill the process at this named step (src/core/crash-points.ts).
    SETTLE_TEST_CRASH_POINT: z.enum(CRASH_POINTS).optional(),
  })
  .strict();

export type RawEnv = Record<string, string | undefined>;

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  /** false when PUBLIC_URL was not set and publicUrl was derived from HOST and PORT. */
  publicUrlConfigured: boolean;
  logLevel: string;
  database:
    | {
        kind: 'server';
        url: string;
        poolMax: number;
        /** Repeated statements executed named (src/db/prepared.ts); default true. */
        preparedStatements?: boolean;
      }
    | { kind: 'embedded'; dataDir: string };
  /** REDIS_URL: rate-limit counters in Redis; null = in the database (table `rate_limits`). */
  redisUrl: string | null;
  adminToken: string | null;
  stripe: {
    /** null: demo mode, the in-process emulator is started and used. */
    secretKey: string | null;
    mode: 'test' | 'live' | null;
    apiBase: string | null;
    webhookSecrets: string[];
    connectWebhookSecrets: string[];
    maxNetworkRetries: number;
  };
  paypal: PayPalConfig;
  square: SquareConfig;
  /** SETTLE_ENCRYPTION_KEY (current) and SETTLE_ENCRYPTION_KEY_PREVIOUS: seals sellers' OAuth tokens at rest. */
  sealingKeys: SealingKeys | null;
  holdMinutes: number;
  /** How long a processing (delayed-method) payment keeps its hold. */
  processingHoldDays: number;
  subscriptions: {
    /** Days a past_due subscription keeps its access (counted from when it became past_due). */
    graceDays: number;
    /** Put each subscription's customer on a Stripe test clock (test mode only). */
    stripeTestClocks: boolean;
  };
  /** Days kept before the retention sweep deletes them (see docs/configuration.md). */
  retention: { webhookEventsDays: number; jobsDays: number; holdsDays: number; notificationsDays: number };
  defaultFee: { bps: number; fixed: number };
  reconcileIntervalSeconds: number;
  queuePollMs: number;
  /** Per client IP and minute for checkout and cancel; verify and order reads get 10×. 0 disables. */
  rateLimitPerMinute: number;
  /** Behind a reverse proxy: take the client IP from X-Forwarded-For (rate limits, logs). */
  trustProxy: boolean;
  emulatorPort: number;
  /** Demo mode: port of the in-process PayPal emulator. */
  paypalEmulatorPort: number;
  /** Demo mode: port of the in-process Square emulator. */
  squareEmulatorPort: number;
  demoSeed: boolean;
  /** Test-only: the crash point armed in this process (null in any real deployment). */
  testCrashPoint: CrashPointName | null;
}

/** PayPal settings; `clientId` null means PayPal is not configured (demo mode may run its emulator instead). */
export interface PayPalConfig {
  clientId: string | null;
  clientSecret: string | null;
  /** PAYPAL_MODE: the SDK environment (Sandbox or Production) and the mode events are accepted in. */
  mode: 'sandbox' | 'live';
  /** The webhook subscription id: part of every signed message (offline verification). */
  webhookId: string | null;
  /** BN code sent as PayPal-Partner-Attribution-Id on every order. */
  partnerAttributionId: string | null;
  /** The platform's own PayPal merchant id: the merchant-integrations API (seller status) is read under it. */
  partnerMerchantId: string | null;
  /**
   * Emulator only: the SDK's absolute api-m URLs are rewritten to this origin (provider-facts 9a), and its host is
   * added to the webhook certificate allow-list. Refused with PAYPAL_MODE=live.
   */
  apiBase: string | null;
  /** Retries of safe calls (GETs, and POSTs carrying a PayPal-Request-Id), with the same request id. */
  maxNetworkRetries: number;
}

/** Square settings; `applicationId` null means Square is not configured (demo mode may run its emulator instead). */
export interface SquareConfig {
  applicationId: string | null;
  applicationSecret: string | null;
  /** The application's own access token (webhook subscriptions, events search); null: those are skipped. */
  accessToken: string | null;
  /** The subscription's signature key: HMAC-SHA256 over SQUARE_WEBHOOK_URL + the raw body. */
  webhookSignatureKey: string | null;
  /** The notification URL exactly as subscribed at Square (never taken from a request's headers). */
  webhookUrl: string | null;
  /** Required when Square is configured: the SDK would otherwise default to production without a word. */
  environment: 'sandbox' | 'production';
  /** Emulator only: the SDK's `baseUrl`. Refused in production. */
  apiBase: string | null;
  maxNetworkRetries: number;
}

/** Whether the Square application is configured (or set by demo mode for its emulator). */
export function squareConfigured(
  c: SquareConfig,
): c is SquareConfig & { applicationId: string; applicationSecret: string } {
  return c.applicationId !== null && c.applicationSecret !== null;
}

/** Whether PayPal credentials are configured (or set by demo mode for its emulator). */
export function paypalConfigured(
  c: PayPalConfig,
): c is PayPalConfig & { clientId: string; clientSecret: string } {
  return c.clientId !== null && c.clientSecret !== null;
}

const splitSecrets = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/**
 * Validates the environment and returns the configuration, or throws one SettleError('config_invalid')
 * listing every problem with the variable name, so a newcomer can fix them all at once.
 */
export function loadConfig(env: RawEnv = process.env): Config {
  const known = Object.keys(schema.shape);
  const picked: Record<string, string> = {};
  for (const k of known) {
    const v = env[k];
    if (v !== undefined && v !== '') picked[k] = v;
  }
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new SettleError(
      'config_invalid',
      `Invalid configuration (see docs/configuration.md):\n${lines.join('\n')}`,
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const key = e.STRIPE_SECRET_KEY ?? null;
  const mode = key === null ? null : key.includes('_live_') ? 'live' : 'test';
  const webhookSecrets = splitSecrets(e.STRIPE_WEBHOOK_SECRET);
  const connectWebhookSecrets = splitSecrets(e.STRIPE_CONNECT_WEBHOOK_SECRET);
  for (const [name, secrets] of [
    ['STRIPE_WEBHOOK_SECRET', webhookSecrets],
    ['STRIPE_CONNECT_WEBHOOK_SECRET', connectWebhookSecrets],
  ] as const) {
    for (const s of secrets) {
      if (!s.startsWith('whsec_'))
        problems.push(
          `  ${name}: each secret must start with whsec_ (an endpoint signing secret, not an API key)`,
        );
      else if (!WEBHOOK_SECRET_RE.test(s))
        problems.push(
          `  ${name}: a secret must have content after whsec_ (letters, digits, _ + / = -): copy the whole signing secret`,
        );
    }
  }
  if (e.SETTLE_ADMIN_TOKEN !== undefined) {
    const problem = adminTokenProblem(e.SETTLE_ADMIN_TOKEN);
    if (problem !== null) problems.push(`  SETTLE_ADMIN_TOKEN: ${problem}`);
  }
  // Each registered endpoint has its own signing secret. The Stripe CLI (`stripe listen`) signs both forwards with
  // one secret, which is fine in test mode; with a live key one secret on both means one endpoint is misconfigured
  // (the same rule as the doctor's stripe.webhook.secrets check).
  if (mode === 'live' && webhookSecrets.some((s) => connectWebhookSecrets.includes(s)))
    problems.push(
      '  STRIPE_WEBHOOK_SECRET / STRIPE_CONNECT_WEBHOOK_SECRET: the same secret is set for both endpoints; with a live key each endpoint has its own signing secret (Dashboard → Webhooks → endpoint → Signing secret)',
    );
  if (key !== null) {
    if (webhookSecrets.length === 0)
      problems.push(
        '  STRIPE_WEBHOOK_SECRET: required when STRIPE_SECRET_KEY is set (the platform endpoint signing secret)',
      );
    if (connectWebhookSecrets.length === 0)
      problems.push(
        '  STRIPE_CONNECT_WEBHOOK_SECRET: required when STRIPE_SECRET_KEY is set (the Connect endpoint signing secret)',
      );
    if (e.SETTLE_ADMIN_TOKEN === undefined)
      problems.push('  SETTLE_ADMIN_TOKEN: required when STRIPE_SECRET_KEY is set');
  }
  const publicUrl = (
    e.PUBLIC_URL ?? `http://${e.HOST === '0.0.0.0' ? '127.0.0.1' : e.HOST}:${e.PORT}`
  ).replace(/\/+$/, '');
  if (mode === 'live' && !publicUrl.startsWith('https://'))
    problems.push('  PUBLIC_URL: must be https:// with a live key');
  if (mode === 'live' && e.STRIPE_API_BASE !== undefined)
    problems.push('  STRIPE_API_BASE: must not be set with a live key');
  if (mode === 'live' && e.SETTLE_STRIPE_TEST_CLOCKS === true)
    problems.push(
      '  SETTLE_STRIPE_TEST_CLOCKS: test clocks exist in test mode only; unset it with a live key',
    );
  if (mode === 'live' && e.SETTLE_TEST_CRASH_POINT !== undefined)
    problems.push('  SETTLE_TEST_CRASH_POINT: test-only, must not be set with a live key');
  problems.push(...paypalProblems(e, publicUrl));
  problems.push(...squareProblems(e, publicUrl));
  let sealingKeys: SealingKeys | null = null;
  try {
    if (e.SETTLE_ENCRYPTION_KEY !== undefined)
      sealingKeys = {
        current: parseSealingKey(e.SETTLE_ENCRYPTION_KEY),
        previous: splitSecrets(e.SETTLE_ENCRYPTION_KEY_PREVIOUS).map(parseSealingKey),
      };
    else if (e.SETTLE_ENCRYPTION_KEY_PREVIOUS !== undefined)
      problems.push(
        '  SETTLE_ENCRYPTION_KEY_PREVIOUS: set without SETTLE_ENCRYPTION_KEY (the previous keys only open older values; set the current key too)',
      );
  } catch (err) {
    problems.push(
      `  SETTLE_ENCRYPTION_KEY${e.SETTLE_ENCRYPTION_KEY_PREVIOUS !== undefined ? ' / SETTLE_ENCRYPTION_KEY_PREVIOUS' : ''}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (problems.length > 0) {
    throw new SettleError(
      'config_invalid',
      `Invalid configuration (see docs/configuration.md):\n${[...new Set(problems)].join('\n')}`,
    );
  }
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    publicUrlConfigured: e.PUBLIC_URL !== undefined,
    logLevel: e.LOG_LEVEL,
    database:
      e.DATABASE_URL !== undefined
        ? {
            kind: 'server',
            url: e.DATABASE_URL,
            poolMax: e.DATABASE_POOL_MAX,
            preparedStatements: e.DATABASE_PREPARED_STATEMENTS,
          }
        : { kind: 'embedded', dataDir: e.SETTLE_DATA_DIR },
    redisUrl: e.REDIS_URL ?? null,
    adminToken: e.SETTLE_ADMIN_TOKEN ?? null,
    stripe: {
      secretKey: key,
      mode,
      apiBase: e.STRIPE_API_BASE ?? null,
      webhookSecrets,
      connectWebhookSecrets,
      maxNetworkRetries: e.STRIPE_MAX_NETWORK_RETRIES,
    },
    paypal: {
      clientId: e.PAYPAL_CLIENT_ID ?? null,
      clientSecret: e.PAYPAL_CLIENT_SECRET ?? null,
      mode: e.PAYPAL_MODE,
      webhookId: e.PAYPAL_WEBHOOK_ID ?? null,
      partnerAttributionId: e.PAYPAL_PARTNER_ATTRIBUTION_ID ?? null,
      partnerMerchantId: e.PAYPAL_PARTNER_MERCHANT_ID ?? null,
      apiBase: e.PAYPAL_API_BASE?.replace(/\/+$/, '') ?? null,
      maxNetworkRetries: e.PAYPAL_MAX_NETWORK_RETRIES,
    },
    square: {
      applicationId: e.SQUARE_APPLICATION_ID ?? null,
      applicationSecret: e.SQUARE_APPLICATION_SECRET ?? null,
      accessToken: e.SQUARE_ACCESS_TOKEN ?? null,
      webhookSignatureKey: e.SQUARE_WEBHOOK_SIGNATURE_KEY ?? null,
      webhookUrl: e.SQUARE_WEBHOOK_URL ?? null,
      environment: e.SQUARE_ENVIRONMENT ?? 'sandbox',
      apiBase: e.SQUARE_API_BASE?.replace(/\/+$/, '') ?? null,
      maxNetworkRetries: e.SQUARE_MAX_NETWORK_RETRIES,
    },
    sealingKeys,
    holdMinutes: e.SETTLE_HOLD_MINUTES,
    processingHoldDays: e.SETTLE_PROCESSING_HOLD_DAYS,
    subscriptions: {
      graceDays: e.SETTLE_SUBSCRIPTION_GRACE_DAYS,
      stripeTestClocks: e.SETTLE_STRIPE_TEST_CLOCKS ?? key === null,
    },
    retention: {
      webhookEventsDays: e.SETTLE_RETENTION_WEBHOOK_DAYS,
      jobsDays: e.SETTLE_RETENTION_JOBS_DAYS,
      holdsDays: e.SETTLE_RETENTION_HOLDS_DAYS,
      notificationsDays: e.SETTLE_RETENTION_NOTIFICATIONS_DAYS,
    },
    defaultFee: { bps: e.SETTLE_FEE_BPS, fixed: e.SETTLE_FEE_FIXED },
    reconcileIntervalSeconds: e.SETTLE_RECONCILE_INTERVAL_SECONDS,
    queuePollMs: e.SETTLE_QUEUE_POLL_MS,
    rateLimitPerMinute: e.SETTLE_RATE_LIMIT_PER_MINUTE,
    trustProxy: e.SETTLE_TRUST_PROXY,
    emulatorPort: e.SETTLE_EMULATOR_PORT,
    paypalEmulatorPort: e.SETTLE_PAYPAL_EMULATOR_PORT,
    squareEmulatorPort: e.SETTLE_SQUARE_EMULATOR_PORT,
    demoSeed: e.SETTLE_DEMO_SEED,
    testCrashPoint: e.SETTLE_TEST_CRASH_POINT ?? null,
  };
}

/**
 * The PayPal rules beyond the ranges: both credentials or neither; with credentials, the webhook id, the partner
 * merchant id and the operator token; in live mode an https PUBLIC_URL, a BN code, no emulator base and no test
 * crash point. PayPal's other variables without credentials are refused too (PayPal would silently stay off).
 */
function paypalProblems(e: z.infer<typeof schema>, publicUrl: string): string[] {
  const problems: string[] = [];
  const id = e.PAYPAL_CLIENT_ID;
  const secret = e.PAYPAL_CLIENT_SECRET;
  if (id !== undefined && secret === undefined)
    problems.push('  PAYPAL_CLIENT_SECRET: required when PAYPAL_CLIENT_ID is set (the REST app secret)');
  if (secret !== undefined && id === undefined)
    problems.push('  PAYPAL_CLIENT_ID: required when PAYPAL_CLIENT_SECRET is set (the REST app client ID)');
  if (id === undefined && secret === undefined) {
    for (const name of [
      'PAYPAL_WEBHOOK_ID',
      'PAYPAL_PARTNER_ATTRIBUTION_ID',
      'PAYPAL_PARTNER_MERCHANT_ID',
      'PAYPAL_API_BASE',
    ] as const) {
      if (e[name] !== undefined)
        problems.push(
          `  ${name}: set, but PayPal is off without PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET (set them, or unset ${name})`,
        );
    }
    return problems;
  }
  if (e.PAYPAL_WEBHOOK_ID === undefined)
    problems.push(
      '  PAYPAL_WEBHOOK_ID: required when PayPal is configured (the id of the webhook subscribed to PUBLIC_URL/webhooks/paypal; every event signature covers it)',
    );
  if (e.PAYPAL_PARTNER_MERCHANT_ID === undefined)
    problems.push(
      "  PAYPAL_PARTNER_MERCHANT_ID: required when PayPal is configured (the platform's PayPal merchant ID: sellers' onboarding status is read under it)",
    );
  if (e.SETTLE_ADMIN_TOKEN === undefined)
    problems.push('  SETTLE_ADMIN_TOKEN: required when PayPal is configured');
  if (e.PAYPAL_API_BASE !== undefined)
    problems.push(...emulatorOriginProblems('PAYPAL_API_BASE', e.PAYPAL_API_BASE, 'http://127.0.0.1:12112'));
  if (e.PAYPAL_MODE === 'live') {
    if (!publicUrl.startsWith('https://'))
      problems.push('  PUBLIC_URL: must be https:// with PAYPAL_MODE=live');
    if (e.PAYPAL_API_BASE !== undefined)
      problems.push('  PAYPAL_API_BASE: must not be set with PAYPAL_MODE=live (emulator only)');
    if (e.PAYPAL_PARTNER_ATTRIBUTION_ID === undefined)
      problems.push(
        '  PAYPAL_PARTNER_ATTRIBUTION_ID: required with PAYPAL_MODE=live (the BN code PayPal assigned to the platform; sent on every order)',
      );
    if (e.PAYPAL_WEBHOOK_ID === 'WEBHOOK_ID')
      problems.push(
        "  PAYPAL_WEBHOOK_ID: 'WEBHOOK_ID' is the webhook simulator's placeholder; use the id of the live webhook",
      );
    if (e.SETTLE_TEST_CRASH_POINT !== undefined)
      problems.push('  SETTLE_TEST_CRASH_POINT: test-only, must not be set with PAYPAL_MODE=live');
  }
  return problems;
}

/**
 * The Square rules beyond the ranges: the application id and secret together; with them SQUARE_ENVIRONMENT (never
 * the SDK's silent production default) matching the credentials' kind, the webhook signature key and URL, the
 * encryption key for sellers' tokens and the operator token; in production an https webhook URL and no emulator
 * base. Square's other variables without the application are refused (Square would silently stay off).
 */
function squareProblems(e: z.infer<typeof schema>, publicUrl: string): string[] {
  const problems: string[] = [];
  const id = e.SQUARE_APPLICATION_ID;
  const secret = e.SQUARE_APPLICATION_SECRET;
  if (id !== undefined && secret === undefined)
    problems.push(
      '  SQUARE_APPLICATION_SECRET: required when SQUARE_APPLICATION_ID is set (the application secret)',
    );
  if (secret !== undefined && id === undefined)
    problems.push(
      '  SQUARE_APPLICATION_ID: required when SQUARE_APPLICATION_SECRET is set (the application ID)',
    );
  if (id === undefined && secret === undefined) {
    for (const name of [
      'SQUARE_ACCESS_TOKEN',
      'SQUARE_WEBHOOK_SIGNATURE_KEY',
      'SQUARE_WEBHOOK_URL',
      'SQUARE_ENVIRONMENT',
      'SQUARE_API_BASE',
    ] as const) {
      if (e[name] !== undefined)
        problems.push(
          `  ${name}: set, but Square is off without SQUARE_APPLICATION_ID and SQUARE_APPLICATION_SECRET (set them, or unset ${name})`,
        );
    }
    return problems;
  }
  const env = e.SQUARE_ENVIRONMENT;
  if (env === undefined)
    problems.push(
      '  SQUARE_ENVIRONMENT: required when Square is configured (sandbox or production; Settle never assumes production)',
    );
  const sandboxIds = [id, secret]
    .filter((v): v is string => v !== undefined)
    .map((v) => v.startsWith('sandbox-'));
  if (env === 'production' && sandboxIds.some((b) => b))
    problems.push(
      '  SQUARE_ENVIRONMENT: production, but the application credentials are sandbox ones (sandbox-…)',
    );
  if (env === 'sandbox' && sandboxIds.some((b) => !b) && e.SQUARE_API_BASE === undefined)
    problems.push(
      '  SQUARE_ENVIRONMENT: sandbox, but the application credentials are production ones (sandbox credentials start with sandbox-)',
    );
  if (e.SQUARE_WEBHOOK_SIGNATURE_KEY === undefined)
    problems.push(
      "  SQUARE_WEBHOOK_SIGNATURE_KEY: required when Square is configured (the webhook subscription's signature key)",
    );
  if (e.SQUARE_WEBHOOK_URL === undefined)
    problems.push(
      '  SQUARE_WEBHOOK_URL: required when Square is configured (the notification URL exactly as subscribed, e.g. https://pay.example.com/webhooks/square; every signature covers it)',
    );
  if (e.SETTLE_ENCRYPTION_KEY === undefined)
    problems.push(
      "  SETTLE_ENCRYPTION_KEY: required when Square is configured (sellers' OAuth tokens are sealed with it; `openssl rand -base64 32`)",
    );
  if (e.SETTLE_ADMIN_TOKEN === undefined)
    problems.push('  SETTLE_ADMIN_TOKEN: required when Square is configured');
  if (e.SQUARE_API_BASE !== undefined)
    problems.push(...emulatorOriginProblems('SQUARE_API_BASE', e.SQUARE_API_BASE, 'http://127.0.0.1:12113'));
  if (env === 'production') {
    if (e.SQUARE_API_BASE !== undefined)
      problems.push('  SQUARE_API_BASE: must not be set with SQUARE_ENVIRONMENT=production (emulator only)');
    if (!publicUrl.startsWith('https://'))
      problems.push(
        '  PUBLIC_URL: must be https:// with SQUARE_ENVIRONMENT=production (Square redirects sellers to PUBLIC_URL/oauth/square/callback over https only)',
      );
    if (e.SQUARE_WEBHOOK_URL !== undefined && !e.SQUARE_WEBHOOK_URL.startsWith('https://'))
      problems.push('  SQUARE_WEBHOOK_URL: must be https:// with SQUARE_ENVIRONMENT=production');
    if (e.SETTLE_TEST_CRASH_POINT !== undefined)
      problems.push(
        '  SETTLE_TEST_CRASH_POINT: test-only, must not be set with SQUARE_ENVIRONMENT=production',
      );
  }
  return problems;
}

/** An emulator base (`*_API_BASE`): an http(s) origin only, no path, query or credentials. */
function emulatorOriginProblems(name: string, value: string, example: string): string[] {
  const u = new URL(value);
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    return [`  ${name}: must be an http:// or https:// origin (the emulator)`];
  if (u.username !== '' || u.password !== '' || (u.pathname !== '/' && u.pathname !== '') || u.search !== '')
    return [`  ${name}: must be an origin only, e.g. ${example} (no path, query or credentials)`];
  return [];
}
