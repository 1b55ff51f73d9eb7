import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../core/context.js';
import type { ProviderId } from '../../db/schema.js';
import { isSettleError } from '../../core/errors.js';
import { ingestEvent } from '../../core/inbox.js';

/** Provider webhooks are small; anything larger is refused before it is parsed. */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

/**
 * Provider webhook endpoints: Stripe's two (`/webhooks/stripe`, `/webhooks/stripe/connect`), PayPal's one
 * (`/webhooks/paypal`, PayPal delivers its merchants' events to the platform's webhook) and Square's one
 * (`/webhooks/square`, the application's subscription). This plugin is
 * encapsulated: only its routes receive the raw body as a Buffer (signatures are computed over the exact bytes),
 * every other route keeps Fastify's JSON parser.
 * Contract: verify first (400 and nothing written on failure), record in the inbox, then process;
 * duplicates and unknown types get 200; a processing failure is recorded and answered 500 so the provider retries.
 */
export async function webhookRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  );

  const handle =
    (provider: ProviderId, endpoint: 'platform' | 'connect') =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      let verified;
      try {
        verified = await ctx.providers.get(provider).verifyWebhook(endpoint, raw, req.headers);
      } catch (err) {
        // A live Connect endpoint also receives test-mode events of live-connected accounts (and vice versa):
        // acknowledge and ignore them there, or Stripe retries them for days and may disable the endpoint.
        if (isSettleError(err) && err.code === 'webhook_livemode_mismatch' && endpoint === 'connect') {
          req.log.info({ endpoint }, 'webhook of the other mode ignored');
          return reply.status(200).send({ received: true, outcome: 'ignored' });
        }
        if (isSettleError(err) && err.httpStatus < 500) {
          req.log.warn({ provider, endpoint, code: err.code }, 'webhook rejected');
          return reply.status(400).send({ error: { code: err.code, message: err.message } });
        }
        throw err;
      }
      try {
        const outcome = await ingestEvent(ctx, verified, 'webhook');
        req.log.info(
          { endpoint, eventId: verified.eventId, type: verified.type, account: verified.accountId, outcome },
          'webhook handled',
        );
        return reply.status(200).send({ received: true, outcome });
      } catch (err) {
        if (isSettleError(err) && err.code === 'webhook_in_progress') {
          // Another delivery of this event holds it: not acknowledged, so the provider delivers it again later.
          req.log.info({ endpoint, eventId: verified.eventId }, 'webhook already being processed');
          return reply
            .status(503)
            .header('retry-after', '5')
            .send({ error: { code: err.code, message: err.message } });
        }
        req.log.error(
          {
            endpoint,
            eventId: verified.eventId,
            type: verified.type,
            err: err instanceof Error ? err.message : String(err),
          },
          'webhook processing failed',
        );
        return reply.status(500).send({
          error: {
            code: 'internal_error',
            message: 'Event recorded; processing failed and will be retried.',
          },
        });
      }
    };

  app.post('/webhooks/stripe', handle('stripe', 'platform'));
  app.post('/webhooks/stripe/connect', handle('stripe', 'connect'));
  // PayPal's endpoint exists where PayPal is configured (or the demo runs its emulator).
  if (ctx.providers.has('paypal')) app.post('/webhooks/paypal', handle('paypal', 'platform'));
  // Square's too: one subscription of the platform's application carries every connected seller's events.
  if (ctx.providers.has('square')) app.post('/webhooks/square', handle('square', 'platform'));
}

/** The former name of `webhookRoutes` (it registers every provider's endpoints). */
export const stripeWebhookRoutes = webhookRoutes;
