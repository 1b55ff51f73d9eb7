import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import type { Engine } from './engine.js';
import type { FaultConfig } from './faults.js';
import { parseForm, type FormObject } from './form.js';
import { newId } from './ids.js';
import { checkoutPage, completedPage, messagePage, onboardingPage } from './pages.js';
import { completeOnboarding, registerAccounts } from './resources/accounts.js';
import { registerCatalog } from './resources/catalog.js';
import { registerCheckout } from './resources/checkout.js';
import { registerEvents } from './resources/events.js';
import {
  closeDispute,
  completeDelayedPayment,
  expireSession,
  locateSession,
  paySession,
  registerPayments,
  type PayForm,
} from './resources/payments.js';
import { registerWebhookEndpoints } from './resources/webhook-endpoints.js';
import type { ApiHandler, Router } from './router.js';
import { API_VERSION } from './store.js';

/** One API request as seen by the emulator (for tests: retries, idempotency keys, injected faults). */
export interface RequestRecord {
  method: string;
  path: string;
  idempotencyKey: string | null;
  account: string | null;
  status: number;
  fault: 'timeout' | '5xx' | '429' | null;
  replayed: boolean;
  at: number;
}

interface FormBody {
  raw: string;
  form: FormObject;
}

interface IdempotencyEntry {
  endpoint: string;
  raw: string;
  status: number;
  body: object | null;
  inFlight: boolean;
}

function isFormBody(v: unknown): v is FormBody {
  return typeof v === 'object' && v !== null && 'raw' in v && 'form' in v;
}

function header(req: FastifyRequest, name: string): string | null {
  const v = req.headers[name];
  if (Array.isArray(v)) return v[0] ?? null;
  return v ?? null;
}

function apiKeyOf(req: FastifyRequest): string | null {
  const auth = header(req, 'authorization');
  if (!auth) return null;
  const [scheme, value] = auth.split(/\s+/, 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === 'bearer') return value.trim();
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return decoded.split(':')[0] ?? null;
  }
  return null;
}

function authError(message: string): ApiError {
  return new ApiError(401, 'invalid_request_error', message);
}

function redactKey(key: string): string {
  return key.length > 12 ? `${key.slice(0, 8)}${'*'.repeat(8)}${key.slice(-4)}` : key;
}

export interface ServerHandles {
  app: FastifyInstance;
  requests: RequestRecord[];
  closeTimers(): void;
}

export function buildServer(engine: Engine): ServerHandles {
  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 1024 * 1024 });
  const requests: RequestRecord[] = [];
  const idempotency = new Map<string, IdempotencyEntry>();
  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    const raw = typeof body === 'string' ? body : body.toString('utf8');
    done(null, { raw, form: parseForm(raw) } satisfies FormBody);
  });

  const formOf = (req: FastifyRequest): FormBody => {
    if (isFormBody(req.body)) return req.body;
    if (req.body && typeof req.body === 'object') {
      // JSON bodies (test-helper routes) are accepted as-is, values stringified.
      const form: FormObject = {};
      for (const [k, v] of Object.entries(req.body as Record<string, unknown>))
        if (v !== undefined && v !== null) form[k] = String(v);
      return { raw: JSON.stringify(req.body), form };
    }
    return { raw: '', form: {} };
  };

  const send = (reply: FastifyReply, status: number, body: object): FastifyReply =>
    reply
      .code(status)
      .header('content-type', 'application/json')
      .send(JSON.stringify(body, null, 2));

  const wrap =
    (method: string, handler: ApiHandler) =>
    async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> => {
      const requestId = newId('req', 14);
      const path = req.url.split('?')[0] ?? req.url;
      const idemKey = method === 'POST' ? header(req, 'idempotency-key') : null;
      const account = header(req, 'stripe-account');
      reply.header('request-id', requestId);
      reply.header('stripe-version', header(req, 'stripe-version') ?? API_VERSION);
      if (idemKey) reply.header('idempotency-key', idemKey);
      if (account) reply.header('stripe-account', account);
      const log = (status: number, fault: RequestRecord['fault'] = null, replayed = false): void => {
        requests.push({
          method,
          path,
          idempotencyKey: idemKey,
          account,
          status,
          fault,
          replayed,
          at: Date.now(),
        });
      };

      const latency = engine.faults.latencyFor(path);
      if (latency > 0) await sleep(latency);
      const fault = engine.faults.takeApiFault(method, path);
      if (fault?.kind === 'timeout') {
        log(0, 'timeout');
        reply.hijack();
        await sleep(fault.ms);
        req.raw.socket.destroy();
        return;
      }
      if (fault?.kind === '5xx') {
        log(fault.status, '5xx');
        return send(
          reply,
          fault.status,
          new ApiError(fault.status, 'api_error', 'An unknown error occurred (injected fault).').body(),
        );
      }
      if (fault?.kind === '429') {
        log(429, '429');
        return send(
          reply,
          429,
          new ApiError(
            429,
            'invalid_request_error',
            'Too many requests hit the API too quickly (injected fault).',
            {
              code: 'rate_limit',
            },
          ).body(),
        );
      }

      const fail = (err: ApiError): FastifyReply => {
        log(err.status);
        return send(reply, err.status, err.body());
      };
      const apiKey = apiKeyOf(req);
      if (!apiKey)
        return fail(
          authError(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
          ),
        );
      if (apiKey.startsWith('sk_live_') || apiKey.startsWith('rk_live_'))
        return fail(
          authError(
            `Invalid API Key provided: ${redactKey(apiKey)}. The Stripe emulator only accepts test keys (sk_test_…).`,
          ),
        );
      if (!apiKey.startsWith('sk_test_'))
        return fail(authError(`Invalid API Key provided: ${redactKey(apiKey)}`));
      if (account !== null && !engine.store.accounts.has(account))
        return fail(
          new ApiError(
            403,
            'permission_error',
            `The provided key '${redactKey(apiKey)}' does not have access to account '${account}' (or that account does not exist). Application access may have been revoked.`,
            { code: 'account_invalid' },
          ),
        );

      const body =
        method === 'POST' ? formOf(req) : { raw: '', form: parseForm(req.url.split('?')[1] ?? '') };
      const endpoint = `${method} ${path}`;
      let entryKey: string | null = null;
      if (idemKey) {
        if (idemKey.length > 255)
          return fail(
            new ApiError(
              400,
              'invalid_request_error',
              'Idempotency-Key must be at most 255 characters long.',
              { param: 'Idempotency-Key' },
            ),
          );
        entryKey = `${apiKey}\u0000${account ?? ''}\u0000${idemKey}`;
        const prior = idempotency.get(entryKey);
        if (prior) {
          if (prior.endpoint !== endpoint)
            return fail(
              new ApiError(
                400,
                'idempotency_error',
                `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${endpoint}' vs '${prior.endpoint}'). Try using a key other than '${idemKey}' if you meant to execute a different request.`,
              ),
            );
          if (prior.raw !== body.raw)
            return fail(
              new ApiError(
                400,
                'idempotency_error',
                `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
              ),
            );
          if (prior.inFlight || !prior.body)
            return fail(
              new ApiError(
                409,
                'invalid_request_error',
                `There is currently another in-progress request using this Stripe token (idempotency key '${idemKey}').`,
                { code: 'idempotency_key_in_use' },
              ),
            );
          log(prior.status, null, true);
          reply.header('idempotent-replayed', 'true');
          reply.header('original-request', requestId);
          return send(reply, prior.status, prior.body);
        }
        idempotency.set(entryKey, { endpoint, raw: body.raw, status: 0, body: null, inFlight: true });
      }

      let status = 200;
      let out: object;
      try {
        const params = (req.params ?? {}) as Record<string, string>;
        out = await handler({
          params: body.form,
          path: params,
          scope: engine.store.scope(account ?? ''),
          account,
          cause: { requestId, idempotencyKey: idemKey },
          url: path,
        });
      } catch (err) {
        if (err instanceof ApiError) {
          status = err.status;
          out = err.body();
        } else {
          engine.logger.error({ err, path }, 'stripe emulator: handler crashed');
          status = 500;
          out = new ApiError(500, 'api_error', 'An unknown error occurred in the emulator.').body();
        }
      }
      if (entryKey)
        idempotency.set(entryKey, { endpoint, raw: body.raw, status, body: out, inFlight: false });
      log(status);
      return send(reply, status, out);
    };

  const router: Router = {
    get: (path, handler) => app.get(path, wrap('GET', handler)),
    post: (path, handler) => app.post(path, wrap('POST', handler)),
    delete: (path, handler) => app.delete(path, wrap('DELETE', handler)),
  };
  registerAccounts(router, engine);
  registerCatalog(router, engine);
  registerCheckout(router, engine);
  registerPayments(router, engine);
  registerWebhookEndpoints(router, engine);
  registerEvents(router, engine);

  // ---- Hosted checkout page ----
  const html = (reply: FastifyReply, status: number, page: string): FastifyReply =>
    reply.code(status).header('content-type', 'text/html; charset=utf-8').send(page);

  app.get<{ Params: { id: string } }>('/c/pay/:id', (req, reply) => {
    const found = locateSession(engine, req.params.id);
    if (!found) return html(reply, 404, messagePage('Not found', 'This checkout session does not exist.'));
    return html(reply, 200, checkoutPage(found.rec));
  });

  app.post<{ Params: { id: string } }>('/c/pay/:id', (req, reply) => {
    const { form } = formOf(req);
    const payForm: PayForm = {};
    if (typeof form.card_number === 'string') payForm.card_number = form.card_number;
    if (form.payment_method === 'delayed' || form.payment_method === 'card')
      payForm.payment_method = form.payment_method;
    if (typeof form.promotion_code === 'string') payForm.promotion_code = form.promotion_code;
    const result = paySession(engine, req.params.id, payForm);
    const found = locateSession(engine, req.params.id);
    if (result.status === 303 && result.location) return reply.redirect(result.location, 303);
    if (!found) return html(reply, 404, messagePage('Not found', result.error ?? 'Not found'));
    if (result.status === 200) return html(reply, 200, completedPage(found.rec));
    return html(reply, result.status, checkoutPage(found.rec, result.error));
  });

  // ---- Connect onboarding ----
  app.get<{ Params: { id: string } }>('/connect/onboarding/:id', (req, reply) => {
    const link = engine.store.accountLinks.get(req.params.id);
    const account = link ? engine.store.accounts.get(link.account) : undefined;
    if (!link || !account)
      return html(reply, 404, messagePage('Not found', 'This account link does not exist.'));
    return html(reply, 200, onboardingPage(link, account));
  });

  app.post<{ Params: { id: string } }>('/connect/onboarding/:id', (req, reply) => {
    const link = engine.store.accountLinks.get(req.params.id);
    if (!link) return html(reply, 404, messagePage('Not found', 'This account link does not exist.'));
    completeOnboarding(engine, link.account);
    link.used = true;
    return reply.redirect(link.return_url, 303);
  });

  // ---- Emulator control routes (no auth; JSON) ----
  const helper =
    <P>(fn: (req: FastifyRequest<{ Params: P }>) => object | Promise<object>) =>
    async (req: FastifyRequest<{ Params: P }>, reply: FastifyReply): Promise<FastifyReply> => {
      try {
        return send(reply, 200, await fn(req));
      } catch (err) {
        if (err instanceof ApiError) return send(reply, err.status, err.body());
        throw err;
      }
    };
  const jsonBody = (req: FastifyRequest): Record<string, unknown> =>
    req.body && typeof req.body === 'object' && !isFormBody(req.body)
      ? (req.body as Record<string, unknown>)
      : isFormBody(req.body)
        ? req.body.form
        : {};

  app.get(
    '/_emulator/faults',
    helper(() => engine.faults.get()),
  );
  app.post(
    '/_emulator/faults',
    helper((req) => {
      engine.faults.set(jsonBody(req) as Partial<FaultConfig>);
      return engine.faults.get();
    }),
  );
  app.delete(
    '/_emulator/faults',
    helper(() => {
      engine.faults.reset();
      return engine.faults.get();
    }),
  );
  app.get(
    '/_emulator/deliveries',
    helper(() => ({ data: engine.webhooks.deliveries })),
  );
  app.get(
    '/_emulator/requests',
    helper(() => ({ data: requests })),
  );
  app.post(
    '/_emulator/settings',
    helper((req) => {
      const b = jsonBody(req);
      if (b.zeroAmountPaymentStatus === 'paid' || b.zeroAmountPaymentStatus === 'no_payment_required')
        engine.settings.zeroAmountPaymentStatus = b.zeroAmountPaymentStatus;
      return { zeroAmountPaymentStatus: engine.settings.zeroAmountPaymentStatus };
    }),
  );
  app.post<{ Params: { id: string } }>(
    '/_emulator/checkout/sessions/:id/pay',
    helper((req) => {
      const b = jsonBody(req);
      const form: PayForm = {};
      if (typeof b.card_number === 'string') form.card_number = b.card_number;
      if (b.payment_method === 'delayed' || b.payment_method === 'card')
        form.payment_method = b.payment_method;
      if (typeof b.promotion_code === 'string') form.promotion_code = b.promotion_code;
      return paySession(engine, req.params.id, form);
    }),
  );
  app.post<{ Params: { id: string } }>(
    '/_emulator/checkout/sessions/:id/expire',
    helper((req) => {
      const found = locateSession(engine, req.params.id);
      if (!found)
        throw new ApiError(404, 'invalid_request_error', `No such checkout.session: '${req.params.id}'`, {
          code: 'resource_missing',
        });
      expireSession(engine, found.scope, found.rec);
      return found.rec.session;
    }),
  );
  app.post<{ Params: { id: string } }>(
    '/_emulator/checkout/sessions/:id/delayed_payment',
    helper((req) => {
      const outcome = jsonBody(req).outcome;
      if (outcome !== 'succeeded' && outcome !== 'failed')
        throw new ApiError(400, 'invalid_request_error', "outcome must be 'succeeded' or 'failed'", {
          param: 'outcome',
        });
      return completeDelayedPayment(engine, req.params.id, outcome);
    }),
  );
  app.post<{ Params: { id: string } }>(
    '/_emulator/disputes/:id/close',
    helper((req) => {
      const outcome = jsonBody(req).outcome;
      if (outcome !== 'won' && outcome !== 'lost')
        throw new ApiError(400, 'invalid_request_error', "outcome must be 'won' or 'lost'", {
          param: 'outcome',
        });
      return closeDispute(engine, req.params.id, outcome);
    }),
  );
  app.post<{ Params: { id: string } }>(
    '/_emulator/accounts/:id/onboard',
    helper((req) => completeOnboarding(engine, req.params.id)),
  );
  app.post(
    '/_emulator/idle',
    helper(async () => {
      await engine.webhooks.idle();
      return { idle: true };
    }),
  );

  app.setNotFoundHandler((req, reply) =>
    send(
      reply,
      404,
      new ApiError(
        404,
        'invalid_request_error',
        `Unrecognized request URL (${req.method}: ${req.url.split('?')[0] ?? ''}).`,
      ).body(),
    ),
  );

  return {
    app,
    requests,
    closeTimers: () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
