import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Redis } from 'ioredis';
import { isSettleError, SettleError } from '../core/errors.js';
import type { Db } from '../db/connect.js';
import { createLogger, redactEmails, serializeError, type Logger } from '../log/logger.js';
import { postgresRateLimitStore } from './rate-limit-store.js';

/**
 * Security headers on every response. The CSP allows only our own scripts and styles; forms may post to
 * our origin (the hosted checkout is a top-level navigation, not a form target, so no provider origin is needed).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

/**
 * Schema fragments for the free-text strings routes accept. PostgreSQL refuses a NUL (0x00) in text, so it must
 * be a 400 from the schema, never a database error; other control characters have no business in a name, title,
 * e-mail or code either (a description may keep tab, line feed and carriage return).
 */
const SINGLE_LINE = '^[^\\u0000-\\u001F\\u007F]*$';
const MULTI_LINE = '^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$';

export function textSchema(minLength: number, maxLength: number, opts: { multiline?: boolean } = {}) {
  return {
    type: 'string',
    minLength,
    maxLength,
    pattern: opts.multiline === true ? MULTI_LINE : SINGLE_LINE,
  } as const;
}

export const EMAIL_SCHEMA = {
  type: 'string',
  maxLength: 254,
  pattern: '^[^@\\s\\u0000-\\u001F\\u007F]+@[^@\\s\\u0000-\\u001F\\u007F]+$',
} as const;

export const CURRENCY_SCHEMA = { type: 'string', pattern: '^[A-Za-z]{3}$' } as const;

export interface HttpOptions {
  logLevel: string;
  /** Adds HSTS when the public URL is https. */
  https: boolean;
  /** Per client IP and minute on the routes that opt in (checkout, cancel; 10× for verify and reads). 0 = off. */
  rateLimitPerMinute?: number;
  /**
   * Where the rate limiter counts: shared by every instance in the database (`rate_limits`) or in Redis (REDIS_URL).
   * Without one it counts in memory, per process (single-process tools and tests).
   */
  rateLimitStore?: { kind: 'postgres'; db: Db } | { kind: 'redis'; client: Redis };
  /** Trust X-Forwarded-For from a reverse proxy (SETTLE_TRUST_PROXY). */
  trustProxy?: boolean;
  bodyLimit?: number;
  /**
   * The application logger; request lines are written through a child of it (its level, destination and
   * redaction). Without one, a logger is created at `logLevel` with the same options (src/log/logger.ts).
   */
  logger?: Logger;
  /**
   * A server already bound to its port (`bindServer`): Fastify serves on it once ready instead of binding its own,
   * so a port picked by the system is held from the start and cannot be taken by another process meanwhile.
   */
  boundServer?: BoundServer;
}

/**
 * An HTTP server bound before the application behind it exists. Requests that arrive before `attach` get 503 with
 * Retry-After (the application is still starting).
 */
export interface BoundServer {
  server: Server;
  port: number;
  attach(handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  close(): Promise<void>;
}

export async function bindServer(port: number, host: string): Promise<BoundServer> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const server = createServer((req, res) => {
    if (handler !== null) return handler(req, res);
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', connection: 'close' });
    res.end(JSON.stringify({ error: { code: 'starting', message: 'Settle is starting.' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  return {
    server,
    port: typeof addr === 'object' && addr !== null ? addr.port : port,
    attach: (h) => {
      handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** Query parameter names are kept when they look like names; anything else is shown as `[param]`. */
const PARAM_NAME = /^[A-Za-z0-9_.[\]-]{1,40}$/;

/**
 * The URL as it may be logged: order ids (bearer capabilities) in the path are replaced, every query value is
 * dropped (a `?token=` credential, `?order=ord_…`, a session id) and only parameter names are kept.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = redactPath(q === -1 ? url : url.slice(0, q));
  if (q === -1) return path;
  const names = url
    .slice(q + 1)
    .split('&')
    .filter((p) => p.length > 0)
    .map((p) => {
      const name = p.split('=')[0] ?? '';
      return `${PARAM_NAME.test(name) ? name : '[param]'}=[redacted]`;
    });
  return names.length > 0 ? `${path}?${names.join('&')}` : path;
}

/**
 * A path as it may be logged. Anything may be typed into a path (a 404 is logged too), so it is percent-decoded first
 * and then order ids, e-mails, API keys and webhook secrets, and runs of 12 or more digits (card-number shaped) are
 * replaced.
 */
function redactPath(raw: string): string {
  let path = raw;
  try {
    path = decodeURIComponent(raw);
  } catch {
    // malformed percent-encoding: redact the raw text as it is
  }
  return redactEmails(
    path
      .replace(/ord_[A-Za-z0-9]*/g, 'ord_[redacted]')
      .replace(/\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9_]+|\bwhsec_[A-Za-z0-9_]*/g, '[secret]')
      .replace(/\d(?:[ .-]?\d){11,}/g, '[number]'),
  );
}

/** The `req` serializer of the request log: method, redacted URL, host and client address. */
export function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
  };
}

/**
 * One log line per request, written when it is answered and carrying the request, instead of Fastify's two
 * ("incoming request", "request completed"): under webhook load the request log is a measurable share of the work.
 */
class OneLineRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    if (error)
      reply.log.error(
        { req: request, res: reply, err: error, responseTime: reply.elapsedTime },
        'request errored',
      );
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** Creates the Fastify instance with error mapping, security headers and redacted request logging. */
export function createHttp(opts: HttpOptions): FastifyInstance {
  // Same redaction and error scrubbing as the application log; URLs lose credentials and order ids.
  const baseLogger = opts.logger ?? createLogger(opts.logLevel);
  const loggerInstance: FastifyBaseLogger = baseLogger.child(
    {},
    { serializers: { req: serializeRequest, err: serializeError } },
  );
  const bound = opts.boundServer;
  let pendingHandler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const app = Fastify({
    loggerInstance,
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
    genReqId: () => `req_${randomUUID()}`,
    logController: new OneLineRequestLog(),
    trustProxy: opts.trustProxy ?? false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    ...(bound
      ? {
          serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
            pendingHandler = handler;
            return bound.server;
          },
        }
      : {}),
  });
  // On a pre-bound server the application starts answering once every route is registered (`ready()`).
  if (bound) {
    app.addHook('onReady', async () => {
      if (pendingHandler !== null) bound.attach(pendingHandler);
    });
  }

  // Buyer routes opt in per route (config.rateLimit); webhook ingress is never limited, so provider retries are
  // never dropped. The counts are shared by every instance (src/http/rate-limit-store.ts); a store failure lets the
  // request through rather than refusing it.
  if ((opts.rateLimitPerMinute ?? 0) > 0) {
    const store = opts.rateLimitStore;
    void app.register(rateLimit, {
      global: false,
      max: opts.rateLimitPerMinute ?? 0,
      timeWindow: 60_000,
      skipOnError: store !== undefined,
      ...(store?.kind === 'postgres'
        ? { store: postgresRateLimitStore(store.db, baseLogger.child({ component: 'rate-limit' })) }
        : {}),
      ...(store?.kind === 'redis' ? { redis: store.client, nameSpace: 'settle-rate-limit-' } : {}),
    });
  }

  // Graceful shutdown: once close() has begun, an answer to a request still in flight closes its connection, so a
  // kept-alive client does not keep the server (and the shutdown) waiting until its keep-alive timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  // A URL with malformed percent-encoding is refused outright (the query parser would otherwise drop what it cannot
  // decode and the request would go on as if it were well formed).
  app.addHook('onRequest', async (req) => {
    if (!req.url.includes('%')) return;
    try {
      decodeURI(req.url);
    } catch {
      throw new SettleError('validation_failed', 'The URL has malformed percent-encoding.');
    }
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    if (opts.https) reply.header('strict-transport-security', 'max-age=63072000; includeSubDomains');
    return payload;
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    if (isSettleError(err) && err.httpStatus < 500) {
      return reply.status(err.httpStatus).send({
        error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
      });
    }
    const fe = err as { validation?: unknown; statusCode?: number; code?: string; message?: string };
    if (fe.validation !== undefined) {
      return reply
        .status(400)
        .send({ error: { code: 'validation_failed', message: fe.message ?? 'invalid request' } });
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      const code =
        fe.statusCode === 413
          ? 'payload_too_large'
          : fe.statusCode === 415
            ? 'unsupported_media_type'
            : fe.statusCode === 429
              ? 'rate_limited'
              : 'bad_request';
      return reply.status(fe.statusCode).send({ error: { code, message: fe.message ?? 'bad request' } });
    }
    if (isSettleError(err) && err.httpStatus === 503) {
      req.log.warn({ code: err.code, err: err.message }, 'dependency unavailable');
      return reply
        .status(503)
        .header('retry-after', '5')
        .send({
          error: {
            code: err.code,
            message: 'A payment provider is unavailable; try again shortly.',
            requestId: req.id,
          },
        });
    }
    // Never leak internals: the body is generic, the detail goes to the log with the request id.
    req.log.error({ err }, 'unhandled error');
    const status = isSettleError(err) ? err.httpStatus : 500;
    return reply.status(status).send({
      error: {
        code: isSettleError(err) ? err.code : 'internal_error',
        message: 'Something went wrong on our side.',
        requestId: req.id,
      },
    });
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: { code: 'not_found', message: `No route for ${req.method} ${req.url.split('?')[0] ?? ''}` },
    });
  });

  return app;
}

/** The credential of `Authorization: Bearer <token>`, or null. */
export function bearerToken(req: FastifyRequest): string | null {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  return m?.[1] ?? null;
}

/** Bearer-token guard for operator routes (register as an onRequest hook, before body parsing); constant-time comparison. */
export function requireAdmin(token: string | null) {
  const expected = token === null ? null : Buffer.from(token);
  return async (req: FastifyRequest): Promise<void> => {
    const presented = bearerToken(req);
    const given = presented !== null ? Buffer.from(presented) : null;
    if (
      expected === null ||
      given === null ||
      given.length !== expected.length ||
      !timingSafeEqual(given, expected)
    ) {
      throw new SettleError(
        'unauthorized',
        'Operator routes need Authorization: Bearer <SETTLE_ADMIN_TOKEN>.',
      );
    }
  };
}
