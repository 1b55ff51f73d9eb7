import { randomUUID, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { isSettleError, SettleError } from '../core/errors.js';
import { REDACT_PATHS } from '../log/logger.js';

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

export interface HttpOptions {
  logLevel: string;
  /** Adds HSTS when the public URL is https. */
  https: boolean;
  /** Per client IP and minute on the routes that opt in (checkout, cancel; 10× for verify and reads). 0 = off. */
  rateLimitPerMinute?: number;
  /** Trust X-Forwarded-For from a reverse proxy (SETTLE_TRUST_PROXY). */
  trustProxy?: boolean;
  bodyLimit?: number;
}

/** Creates the Fastify instance with error mapping, security headers and redacted request logging. */
export function createHttp(opts: HttpOptions): FastifyInstance {
  const app = Fastify({
    logger: { level: opts.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
    genReqId: () => `req_${randomUUID()}`,
    trustProxy: opts.trustProxy ?? false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });

  // Buyer routes opt in per route (config.rateLimit); webhook ingress is never limited, so provider retries are
  // never dropped. The limiter is in memory, per process.
  if ((opts.rateLimitPerMinute ?? 0) > 0) {
    void app.register(rateLimit, { global: false, max: opts.rateLimitPerMinute ?? 0, timeWindow: 60_000 });
  }

  app.addHook('onSend', async (_req, reply, payload) => {
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

/** Bearer-token guard for operator routes (register as an onRequest hook, before body parsing); constant-time comparison. */
export function requireAdmin(token: string | null) {
  const expected = token === null ? null : Buffer.from(token);
  return async (req: FastifyRequest): Promise<void> => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(header);
    const given = m?.[1] !== undefined ? Buffer.from(m[1]) : null;
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
