import type { AppContext } from '../app/context.js';
import type { WebhookEvent } from '../db/schema.js';
import { SettleError } from './errors.js';
import { applyEvent } from './payment-events.js';
import type { VerifiedEvent } from './provider.js';

export type IngestOutcome = 'processed' | 'ignored' | 'duplicate' | 'in_progress';

/** An inbox row still 'received' after this long is assumed abandoned (crash) and may be processed again. */
const STALE_MS = 2 * 60_000;

/**
 * The webhook inbox. A verified event is recorded (unique per provider and event id) before it is processed;
 * a duplicate of a processed event is acknowledged without reprocessing; a processing failure is recorded
 * (status failed, attempts, last error) and rethrown so the caller answers 5xx and the provider retries.
 * Reconciliation feeds missed events through the same function.
 */
export async function ingestEvent(
  ctx: AppContext,
  ev: VerifiedEvent,
  via: 'webhook' | 'reconcile' = 'webhook',
): Promise<IngestOutcome> {
  const inserted = await ctx.db
    .insertInto('webhook_events')
    .values({
      provider: ev.provider,
      endpoint: ev.endpoint,
      account: ev.accountId ?? '',
      event_id: ev.eventId,
      type: ev.type,
      livemode: ev.livemode,
      event_created: ev.createdAt,
      payload: JSON.stringify(ev.raw),
    })
    .onConflict((oc) => oc.columns(['provider', 'event_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
  let row: WebhookEvent;
  if (inserted !== undefined) {
    row = inserted;
  } else {
    row = await ctx.db
      .selectFrom('webhook_events')
      .selectAll()
      .where('provider', '=', ev.provider)
      .where('event_id', '=', ev.eventId)
      .executeTakeFirstOrThrow();
    if (row.status === 'processed' || row.status === 'ignored') return 'duplicate';
    const fresh = ctx.now().getTime() - row.received_at.getTime() < STALE_MS;
    if (row.status === 'received' && fresh && row.attempts === 0) return 'in_progress';
  }
  return processInboxRow(ctx, row.id, ev, via);
}

/** Processes (or re-processes) an inbox row and records the result. */
export async function processInboxRow(
  ctx: AppContext,
  id: number,
  ev: VerifiedEvent,
  via: 'webhook' | 'reconcile',
): Promise<'processed' | 'ignored'> {
  try {
    const result = await applyEvent(ctx, ev, via);
    await ctx.db
      .updateTable('webhook_events')
      .set((eb) => ({
        status: result,
        processed_at: ctx.now(),
        attempts: eb('attempts', '+', 1),
        last_error: null,
      }))
      .where('id', '=', id)
      .execute();
    return result;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await ctx.db
      .updateTable('webhook_events')
      .set((eb) => ({
        status: 'failed',
        attempts: eb('attempts', '+', 1),
        last_error: message.slice(0, 2000),
      }))
      .where('id', '=', id)
      .execute();
    ctx.logger.error(
      { inboxId: id, eventId: ev.eventId, type: ev.type, err: message },
      'webhook processing failed',
    );
    throw err;
  }
}

/** Operator replay of a stored (already verified) event. */
export async function replayInboxEvent(ctx: AppContext, id: number): Promise<'processed' | 'ignored'> {
  const row = await ctx.db.selectFrom('webhook_events').selectAll().where('id', '=', id).executeTakeFirst();
  if (row === undefined) throw new SettleError('not_found', `Inbox event ${id} does not exist.`);
  const ev = await ctx.provider.normalizeEvent(
    row.endpoint === 'connect' ? 'connect' : 'platform',
    row.payload,
  );
  return processInboxRow(ctx, row.id, ev, 'webhook');
}
