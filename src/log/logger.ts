import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * Paths redacted from every log line. Secrets (API keys, webhook secrets, admin token), signatures,
 * authorization headers, e-mail addresses and raw provider payloads never reach the log sink.
 */
export const REDACT_PATHS: string[] = [
  'req.headers.authorization',
  'req.headers["stripe-signature"]',
  'req.headers["x-square-hmacsha256-signature"]',
  'req.headers["paypal-transmission-sig"]',
  'req.headers.cookie',
  'req.headers["settle-manage-token"]',
  '*.manageToken',
  'headers.authorization',
  'headers["stripe-signature"]',
  '*.secret',
  '*.secretKey',
  '*.apiKey',
  '*.token',
  '*.password',
  '*.email',
  '*.customer_email',
  '*.card_number',
  'payload',
  'rawBody',
  'body',
];

export type { Logger };

/** What an e-mail address (or anything shaped like one) becomes in a log line. */
export const EMAIL_CENSOR = '[email]';

/**
 * Anything e-mail-shaped: a local part, `@`, and a domain with at least one letter (so `pkg@1.2.3` in a stack
 * trace is left alone, `buyer@localhost` is not).
 */
const EMAIL_RE =
  /[A-Za-z0-9.!#$%&'*+=?^_`{|}~-]+@(?=[A-Za-z0-9.-]*[A-Za-z])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*/g;

/** Replaces every e-mail-shaped substring with `[email]`. */
export function redactEmails(text: string): string {
  return text.includes('@') ? text.replace(EMAIL_RE, EMAIL_CENSOR) : text;
}

/**
 * Error fields that carry a query or its values: PGlite puts `query` and `params` on its errors, other drivers
 * and query builders use `parameters`, `values` or `bindings`. They are dropped from logged errors.
 */
const DROPPED_ERROR_KEYS = new Set([
  'parameters',
  'params',
  'query',
  'queryOptions',
  'internalQuery',
  'values',
  'bindings',
]);

/** PostgreSQL's `detail` and `where` quote row and parameter values: keep the column names, drop the values. */
function redactValues(key: string, text: string): string {
  if (key === 'detail') {
    return text
      .replace(/\)=\(.*?\)( already exists| is not present| conflicts with|\.|$)/gs, ')=([redacted])$1')
      .replace(/(Failing row contains )\(.*\)/s, '$1([redacted])');
  }
  if (key === 'where') return text.replace(/(parameter \$\d+) = .*/gs, '$1 = [redacted]');
  return text;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function isErrorLike(v: unknown): v is Error {
  return v instanceof Error || (typeof v === 'object' && v !== null && 'message' in v && 'stack' in v);
}

function scrubError(value: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (DROPPED_ERROR_KEYS.has(k) || v === undefined) continue;
    out[k] = scrubErrorValue(k, v, depth + 1);
  }
  return out;
}

function scrubErrorValue(key: string, v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactEmails(redactValues(key, v));
  if (depth > 4) return typeof v === 'object' && v !== null ? '[object]' : v;
  if (Array.isArray(v)) return v.map((x) => scrubErrorValue(key, x, depth));
  if (isErrorLike(v)) return scrubError(toPlain(v), depth);
  if (typeof v === 'object' && v !== null) return scrubError(v as Record<string, unknown>, depth);
  return v;
}

/** pino's standard error shape (type, message and stack with causes, own fields) as a plain object. */
function toPlain(err: Error): Record<string, unknown> {
  const serialized: unknown = pino.stdSerializers.err(err);
  const out: Record<string, unknown> = {};
  if (typeof serialized === 'object' && serialized !== null) {
    for (const [k, v] of Object.entries(serialized)) out[k] = v;
  }
  return out;
}

/**
 * The `err` serializer of every logger: pino's standard error shape, minus the query and its parameters, with
 * the values PostgreSQL quotes in `detail` / `where` removed and anything e-mail-shaped replaced. A failed
 * insert of an order must not put the buyer's e-mail address into the log (docs/security.md).
 */
export function serializeError(err: unknown): unknown {
  if (typeof err === 'string') return redactEmails(err);
  if (isErrorLike(err)) return scrubError(toPlain(err), 0);
  if (typeof err === 'object' && err !== null) return scrubErrorValue('err', err, 0);
  return err;
}

/** Replaces e-mail-shaped strings in plain values (objects and arrays a few levels deep); other objects pass. */
function scrubPlain(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactEmails(v);
  if (depth > 3) return v;
  if (Array.isArray(v)) return v.map((x) => scrubPlain(x, depth + 1));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = scrubPlain(x, depth + 1);
    return out;
  }
  return v;
}

/**
 * Options shared by the application logger and the HTTP request logger (`createHttp()`): redaction of the listed
 * paths, the scrubbing `err` serializer, and e-mail-shaped strings removed from messages and plain log fields.
 */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'settle' },
    serializers: { err: serializeError },
    formatters: {
      // Runs before the serializers: errors and requests are left to theirs, plain fields are scrubbed here.
      log: (obj) => scrubPlain(obj, 0) as Record<string, unknown>,
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a: unknown) => (typeof a === 'string' ? redactEmails(a) : a));
        return method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
  };
}

/** Creates the structured, redacted logger. `level` comes from configuration (LOG_LEVEL). */
export function createLogger(level: string = 'info', destination?: pino.DestinationStream): Logger {
  return pino(loggerOptions(level), destination);
}

/** A logger that discards everything; the default in tests unless LOG_LEVEL is set. */
export const silentLogger: Logger = pino({ level: 'silent' });
