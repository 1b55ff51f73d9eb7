import type Stripe from 'stripe';
import { boolParam, paginate, type Engine } from '../engine.js';
import { invalid, missing, requiredParam } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { arr, str } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import { API_VERSION } from '../store.js';
import { applyMetadata } from '../rules.js';

/** Webhook endpoints belong to the platform; `connect: true` ones receive connected-account events only. */
export function registerWebhookEndpoints(apiRouter: Router, engine: Engine): void {
  const { store } = engine;
  const router = expandingRouter(apiRouter, store);
  const view = (
    ep: Stripe.WebhookEndpoint & { connect: boolean; secret: string },
    withSecret: boolean,
  ): object => {
    const { connect: _c, secret, ...rest } = ep;
    return { ...rest, ...(withSecret ? { secret } : {}) };
  };

  router.post('/v1/webhook_endpoints', (req) => {
    const url = str(req.params.url);
    if (!url) throw requiredParam('url');
    try {
      new URL(url);
    } catch {
      throw invalid('Invalid URL: must be an absolute URL', 'url', 'url_invalid');
    }
    const events = arr(req.params.enabled_events).filter((e): e is string => typeof e === 'string');
    if (events.length === 0) throw requiredParam('enabled_events');
    const connect = boolParam(req.params.connect, 'connect') ?? false;
    const ep: Stripe.WebhookEndpoint & { connect: boolean; secret: string } = {
      id: newId('we', 24),
      object: 'webhook_endpoint',
      api_version: str(req.params.api_version) ?? API_VERSION,
      application: connect ? 'ca_emulator' : null,
      created: nowSeconds(),
      description: str(req.params.description) ?? null,
      enabled_events: events,
      livemode: false,
      metadata: applyMetadata({}, req.params.metadata),
      secret: newId('whsec', 32),
      status: 'enabled',
      url,
      connect,
    };
    store.webhookEndpoints.set(ep.id, ep);
    return view(ep, true);
  });

  router.get('/v1/webhook_endpoints/:id', (req) => {
    const ep = store.webhookEndpoints.get(req.path.id ?? '');
    if (!ep) throw missing('webhook_endpoint', req.path.id ?? '');
    return view(ep, false);
  });

  router.post('/v1/webhook_endpoints/:id', (req) => {
    const ep = store.webhookEndpoints.get(req.path.id ?? '');
    if (!ep) throw missing('webhook_endpoint', req.path.id ?? '');
    const url = str(req.params.url);
    if (url) ep.url = url;
    const events = arr(req.params.enabled_events).filter((e): e is string => typeof e === 'string');
    if (events.length > 0) ep.enabled_events = events;
    const disabled = boolParam(req.params.disabled, 'disabled');
    if (disabled !== undefined) ep.status = disabled ? 'disabled' : 'enabled';
    return view(ep, false);
  });

  router.delete('/v1/webhook_endpoints/:id', (req) => {
    const id = req.path.id ?? '';
    if (!store.webhookEndpoints.delete(id)) throw missing('webhook_endpoint', id);
    return { id, object: 'webhook_endpoint', deleted: true };
  });

  router.get('/v1/webhook_endpoints', (req) =>
    paginate(
      [...store.webhookEndpoints.values()].reverse().map((e) => ({ ...view(e, false), id: e.id })),
      req.params,
      req.url,
    ),
  );
}
