import type { FastifyInstance } from 'fastify';
import type { IdempotencyPolicy } from '../kit/idempotency.js';
import { redirect, sendHtml } from '../kit/pages.js';
import {
  ApiServer,
  formFields,
  type ApiCall,
  type CallBase,
  type ErrorContext,
  type Rendered,
} from '../kit/server.js';
import type { Engine } from './engine.js';
import { locateInvoice, payHostedInvoice } from './billing/hosted-invoice.js';
import { ApiError, invalid } from './errors.js';
import { parseForm, type FormObject } from './form.js';
import { newId } from './ids.js';
import {
  checkoutPage,
  completedPage,
  invoicePage,
  messagePage,
  onboardingPage,
  portalPage,
} from './pages.js';
import { checkRequest } from './params.js';
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
import { registerPaymentMethods } from './resources/payment-methods.js';
import { locatePortal, portalAction, portalSubscriptions, registerPortal } from './resources/portal.js';
import { registerPrices } from './resources/prices.js';
import { registerSubscriptions } from './resources/subscriptions.js';
import { registerTestClocks } from './resources/test-clocks.js';
import { registerWebhookEndpoints } from './resources/webhook-endpoints.js';
import type { ApiHandler, ApiRequest, Router } from './router.js';
import { API_VERSION } from './store.js';

export type { RequestRecord } from '../kit/server.js';

/** Who a request authenticated as: the secret key and the connected account it acts for (`Stripe-Account`). */
export interface StripeAuth {
  apiKey: string;
  account: string | null;
}

type StripeCall = ApiCall<StripeAuth, FormObject>;

function apiKeyOf(call: CallBase): string | null {
  const auth = call.header('authorization');
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

/** Stripe's `Idempotency-Key` rules: POST only, ≤ 255 characters, per API key and `Stripe-Account`. */
const idempotency: IdempotencyPolicy<StripeCall, CallBase> = {
  keyOf: (call) => (call.method === 'POST' ? call.header('idempotency-key') : null),
  validate: (key) => {
    if (key.length > 255)
      throw new ApiError(
        400,
        'invalid_request_error',
        'Idempotency-Key must be at most 255 characters long.',
        {
          param: 'Idempotency-Key',
        },
      );
  },
  scopeOf: (call) => `${call.auth.apiKey}\u0000${call.auth.account ?? ''}`,
  mismatch: (m) =>
    m.sameEndpoint
      ? new ApiError(
          400,
          'idempotency_error',
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${m.key}' if you meant to execute a different request.`,
        )
      : new ApiError(
          400,
          'idempotency_error',
          `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${m.endpoint}' vs '${m.priorEndpoint}'). Try using a key other than '${m.key}' if you meant to execute a different request.`,
        ),
  inFlight: (key) =>
    new ApiError(
      409,
      'invalid_request_error',
      `There is currently another in-progress request using this Stripe token (idempotency key '${key}').`,
      { code: 'idempotency_key_in_use' },
    ),
  replayHeaders: (entry) => ({ 'idempotent-replayed': 'true', 'original-request': entry.requestId }),
};

export interface ServerHandles {
  server: ApiServer<StripeAuth, FormObject>;
  app: FastifyInstance;
}

export function buildServer(engine: Engine): ServerHandles {
  const { store } = engine;

  /**
   * Errors are Stripe's `{error:{type, code, message, param, doc_url, request_log_url}}`. `request_log_url` links the
   * request in the Dashboard (`https://dashboard.stripe.com/[acct_…/]test/logs/req_…?t=<unix>`, as real answers
   * show it); an authentication failure has no log to link to, and neither do test-helper routes.
   */
  const renderError = (err: unknown, ctx: ErrorContext<StripeAuth>): Rendered => {
    let apiErr: ApiError;
    if (err instanceof ApiError) apiErr = err;
    else {
      engine.logger.error({ err, path: ctx.path }, 'stripe emulator: handler crashed');
      apiErr = new ApiError(500, 'api_error', 'An unknown error occurred in the emulator.');
    }
    const body = apiErr.body();
    if (ctx.kind !== 'control' && ctx.kind !== 'page' && apiErr.status !== 401) {
      const account = ctx.auth?.account;
      body.error.request_log_url = `https://dashboard.stripe.com/${account ? `${account}/` : ''}test/logs/${ctx.requestId}?t=${engine.clock.nowSeconds()}`;
    }
    return { status: apiErr.status, body };
  };

  const server = new ApiServer<StripeAuth, FormObject>({
    name: 'stripe emulator',
    clock: engine.clock,
    faults: engine.faults,
    logger: engine.logger,
    requestId: () => newId('req', 14),
    parseForm,
    serialize: (body) => JSON.stringify(body, null, 2),
    accountOf: (call) => call.header('stripe-account'),
    responseHeaders: (call) => {
      const h: Record<string, string> = {
        'request-id': call.requestId,
        'stripe-version': call.header('stripe-version') ?? API_VERSION,
      };
      const key = call.method === 'POST' ? call.header('idempotency-key') : null;
      if (key) h['idempotency-key'] = key;
      const account = call.header('stripe-account');
      if (account) h['stripe-account'] = account;
      return h;
    },
    authenticate: (call) => {
      const apiKey = apiKeyOf(call);
      if (!apiKey)
        throw authError(
          "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        );
      if (apiKey.startsWith('sk_live_') || apiKey.startsWith('rk_live_'))
        throw authError(
          `Invalid API Key provided: ${redactKey(apiKey)}. The Stripe emulator only accepts test keys (sk_test_…).`,
        );
      // Any sk_test_ key is accepted: tools need no set-up.
      if (!apiKey.startsWith('sk_test_')) throw authError(`Invalid API Key provided: ${redactKey(apiKey)}`);
      const account = call.header('stripe-account');
      // What Stripe answers for an account the platform does not own (or that does not exist): HTTP 403 (the SDK
      // raises StripePermissionError), type invalid_request_error (the only types Stripe documents are api_error,
      // card_error, idempotency_error and invalid_request_error), code account_invalid.
      if (account !== null && !store.accounts.has(account))
        throw new ApiError(
          403,
          'invalid_request_error',
          `The provided key '${redactKey(apiKey)}' does not have access to account '${account}' (or that account does not exist). Application access may have been revoked.`,
          { code: 'account_invalid' },
        );
      return { apiKey, account };
    },
    params: (call) => {
      if (call.method !== 'POST') return parseForm(call.query);
      const { value, kind } = call.body;
      if (kind === 'form' && value && typeof value === 'object') return value as FormObject;
      if (kind === 'json' && value && typeof value === 'object' && !Array.isArray(value)) {
        // JSON bodies (hand-written requests) are accepted, values stringified.
        const form: FormObject = {};
        for (const [k, v] of Object.entries(value as Record<string, unknown>))
          if (v !== undefined && v !== null) form[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
        return form;
      }
      return {};
    },
    // Strict parameter checking, after auth and before idempotency: a refused request is never recorded.
    checkParams: (method, route, params) => checkRequest(method, route, params),
    idempotency,
    renderError,
    faultError: (fault) =>
      fault.kind === '5xx'
        ? new ApiError(fault.status, 'api_error', 'An unknown error occurred (injected fault).')
        : new ApiError(
            429,
            'invalid_request_error',
            'Too many requests hit the API too quickly (injected fault).',
            {
              code: 'rate_limit',
            },
          ),
    notFound: (method, path) =>
      new ApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`),
    invalidRequest: (message, param) => invalid(message, param),
  });

  const toRequest = (call: StripeCall): ApiRequest => ({
    params: call.params,
    path: call.pathParams,
    scope: store.scope(call.auth.account ?? ''),
    account: call.auth.account,
    cause: { requestId: call.requestId, idempotencyKey: call.idempotencyKey },
    url: call.path,
  });
  // `expand[]` is applied by the handlers through expand.ts (every route's answer goes through it there).
  const adapt =
    (handler: ApiHandler) =>
    (call: StripeCall): object | Promise<object> =>
      handler(toRequest(call));
  const router: Router = {
    get: (path, handler) => server.get(path, adapt(handler)),
    post: (path, handler) => server.post(path, adapt(handler)),
    delete: (path, handler) => server.delete(path, adapt(handler)),
  };
  registerAccounts(router, engine);
  registerCatalog(router, engine);
  registerCheckout(router, engine);
  registerPayments(router, engine);
  registerPrices(router, engine);
  registerPaymentMethods(router, engine);
  registerTestClocks(router, engine);
  registerSubscriptions(router, engine);
  registerPortal(router, engine);
  registerWebhookEndpoints(router, engine);
  registerEvents(router, engine);

  const { app } = server;

  // ---- Hosted checkout page ----
  app.get<{ Params: { id: string } }>('/c/pay/:id', (req, reply) => {
    const found = locateSession(engine, req.params.id);
    if (!found)
      return sendHtml(reply, 404, messagePage('Not found', 'This checkout session does not exist.'));
    return sendHtml(reply, 200, checkoutPage(found.rec));
  });

  const payFormOf = (fields: Record<string, unknown>): PayForm => {
    const form: PayForm = {};
    if (typeof fields.card_number === 'string') form.card_number = fields.card_number;
    if (fields.payment_method === 'delayed' || fields.payment_method === 'card')
      form.payment_method = fields.payment_method;
    if (typeof fields.promotion_code === 'string') form.promotion_code = fields.promotion_code;
    return form;
  };

  app.post<{ Params: { id: string } }>('/c/pay/:id', (req, reply) => {
    const result = paySession(engine, req.params.id, payFormOf(formFields(req)));
    const found = locateSession(engine, req.params.id);
    if (result.status === 303 && result.location) return redirect(reply, result.location);
    if (!found) return sendHtml(reply, 404, messagePage('Not found', result.error ?? 'Not found'));
    if (result.status === 200) return sendHtml(reply, 200, completedPage(found.rec));
    return sendHtml(reply, result.status, checkoutPage(found.rec, result.error));
  });

  // ---- Hosted invoice page ----
  app.get<{ Params: { id: string } }>('/i/:id', (req, reply) => {
    const found = locateInvoice(engine, req.params.id);
    if (!found) return sendHtml(reply, 404, messagePage('Not found', 'This invoice does not exist.'));
    return sendHtml(reply, 200, invoicePage(found.invoice));
  });

  app.post<{ Params: { id: string } }>('/i/:id', (req, reply) => {
    const fields = formFields(req);
    const card = typeof fields.card_number === 'string' ? fields.card_number : '';
    const result = engine.clock.run(() => payHostedInvoice(engine, req.params.id, card));
    const found = locateInvoice(engine, req.params.id);
    if (!found) return sendHtml(reply, 404, messagePage('Not found', result.error ?? 'Not found'));
    return sendHtml(reply, result.status, invoicePage(found.invoice, result.error));
  });

  // ---- Customer portal ----
  app.get<{ Params: { id: string } }>('/p/session/:id', (req, reply) => {
    const found = locatePortal(engine, req.params.id);
    if (!found) return sendHtml(reply, 404, messagePage('Not found', 'This portal session does not exist.'));
    return sendHtml(
      reply,
      200,
      portalPage(found.session, portalSubscriptions(found.scope, found.session.customer)),
    );
  });

  app.post<{ Params: { id: string } }>('/p/session/:id', (req, reply) => {
    const fields = formFields(req);
    const text = (k: string): string | undefined => (typeof fields[k] === 'string' ? fields[k] : undefined);
    const result = engine.clock.run(() =>
      portalAction(engine, req.params.id, {
        action: text('action'),
        subscription: text('subscription'),
        card_number: text('card_number'),
      }),
    );
    const found = locatePortal(engine, req.params.id);
    if (!found) return sendHtml(reply, 404, messagePage('Not found', result.notice.text));
    return sendHtml(
      reply,
      result.status,
      portalPage(found.session, portalSubscriptions(found.scope, found.session.customer), result.notice),
    );
  });

  // ---- Connect onboarding ----
  app.get<{ Params: { id: string } }>('/connect/onboarding/:id', (req, reply) => {
    const link = store.accountLinks.get(req.params.id);
    const account = link ? store.accounts.get(link.account) : undefined;
    if (!link || !account)
      return sendHtml(reply, 404, messagePage('Not found', 'This account link does not exist.'));
    return sendHtml(reply, 200, onboardingPage(link, account));
  });

  app.post<{ Params: { id: string } }>('/connect/onboarding/:id', (req, reply) => {
    const link = store.accountLinks.get(req.params.id);
    if (!link) return sendHtml(reply, 404, messagePage('Not found', 'This account link does not exist.'));
    completeOnboarding(engine, link.account);
    link.used = true;
    return redirect(reply, link.return_url);
  });

  // ---- Emulator control routes (no auth; JSON) ----
  server.registerControlRoutes({
    deliveries: () => engine.webhooks.deliveries,
    idle: () => engine.webhooks.idle(),
  });
  server.control('POST', '/_emulator/settings', (req) => {
    const b = req.body;
    if (b.zeroAmountPaymentStatus === 'paid' || b.zeroAmountPaymentStatus === 'no_payment_required')
      engine.settings.zeroAmountPaymentStatus = b.zeroAmountPaymentStatus;
    return { zeroAmountPaymentStatus: engine.settings.zeroAmountPaymentStatus };
  });
  server.control('POST', '/_emulator/checkout/sessions/:id/pay', (req) =>
    paySession(engine, req.params.id ?? '', payFormOf(req.body)),
  );
  server.control('POST', '/_emulator/checkout/sessions/:id/expire', (req) => {
    const id = req.params.id ?? '';
    const found = locateSession(engine, id);
    if (!found)
      throw new ApiError(404, 'invalid_request_error', `No such checkout.session: '${id}'`, {
        code: 'resource_missing',
      });
    expireSession(engine, found.scope, found.rec);
    return found.rec.session;
  });
  server.control('POST', '/_emulator/checkout/sessions/:id/delayed_payment', (req) => {
    const outcome = req.body.outcome;
    if (outcome !== 'succeeded' && outcome !== 'failed')
      throw invalid("outcome must be 'succeeded' or 'failed'", 'outcome');
    return completeDelayedPayment(engine, req.params.id ?? '', outcome);
  });
  server.control('POST', '/_emulator/disputes/:id/close', (req) => {
    const outcome = req.body.outcome;
    if (outcome !== 'won' && outcome !== 'lost') throw invalid("outcome must be 'won' or 'lost'", 'outcome');
    return closeDispute(engine, req.params.id ?? '', outcome);
  });
  server.control('POST', '/_emulator/accounts/:id/onboard', (req) =>
    completeOnboarding(engine, req.params.id ?? ''),
  );

  return { server, app };
}
