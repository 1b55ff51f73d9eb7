import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EMULATED } from '../../../src/emulators/square/spec/emulated.js';
import {
  OUTPUT_FILE,
  generate,
  render,
  type SpecDocument,
} from '../../../src/emulators/square/spec/generate.js';
import { OPERATIONS, SPEC_SOURCE } from '../../../src/emulators/square/spec/operations.generated.js';
import type { FieldNode } from '../../../src/emulators/square/spec/types.js';

/**
 * The request tables are generated from Square's OpenAPI document (not vendored). These tests hold the committed
 * tables to `emulated.ts` and to the pinned SDK's request serializers, so an SDK bump that sends fields the tables do
 * not know (they would be refused as unknown) fails here; with `SQUARE_SPEC_FILE=<api.json>` the tables are also
 * regenerated and compared byte for byte.
 */
const SDK = join(process.cwd(), 'node_modules', 'square');
const SER = join(SDK, 'serialization');

/** Request serializers of the emulated operations that take a body. */
const SDK_REQUESTS: Readonly<Record<string, string>> = {
  ObtainToken: 'resources/oAuth/client/requests/ObtainTokenRequest.js',
  RevokeToken: 'resources/oAuth/client/requests/RevokeTokenRequest.js',
  BatchRetrieveOrders: 'resources/orders/client/requests/BatchGetOrdersRequest.js',
  CreatePaymentLink: 'resources/checkout/resources/paymentLinks/client/requests/CreatePaymentLinkRequest.js',
  RefundPayment: 'resources/refunds/client/requests/RefundPaymentRequest.js',
  SearchEvents: 'resources/events/client/requests/SearchEventsRequest.js',
  CreateWebhookSubscription:
    'resources/webhooks/resources/subscriptions/client/requests/CreateWebhookSubscriptionRequest.js',
  UpdateWebhookSubscription:
    'resources/webhooks/resources/subscriptions/client/requests/UpdateWebhookSubscriptionRequest.js',
  UpdateWebhookSubscriptionSignatureKey:
    'resources/webhooks/resources/subscriptions/client/requests/UpdateWebhookSubscriptionSignatureKeyRequest.js',
};

/** SDK clients of the emulated operations that take query parameters. */
const SDK_QUERY_CLIENTS: Readonly<Record<string, string>> = {
  ListMerchants: 'api/resources/merchants/client/Client.js',
  ListPaymentLinks: 'api/resources/checkout/resources/paymentLinks/client/Client.js',
  ListPayments: 'api/resources/payments/client/Client.js',
  ListPaymentRefunds: 'api/resources/refunds/client/Client.js',
  ListDisputes: 'api/resources/disputes/client/Client.js',
  ListEventTypes: 'api/resources/events/client/Client.js',
  ListWebhookEventTypes: 'api/resources/webhooks/resources/eventTypes/client/Client.js',
  ListWebhookSubscriptions: 'api/resources/webhooks/resources/subscriptions/client/Client.js',
};

/**
 * Fields the pinned SDK (Square-Version 2026-09-16) and the spec snapshot (2025-08-20) disagree on, on either side.
 * Empty today; a field added here needs a line saying why.
 */
const KNOWN_DIFFERENCES: readonly string[] = [];

/** wire name → the serializer expression of an SDK object schema (`core.serialization.object({...})`). */
function sdkFields(file: string): Map<string, string> | null {
  const src = readFileSync(file, 'utf8');
  const start = src.indexOf('core.serialization.object({');
  if (start < 0) return null;
  const body = src.slice(start, src.indexOf('\n});', start));
  const out = new Map<string, string>();
  for (const line of body.split('\n').slice(1)) {
    const m = /^\s{4}(\w+):\s*(.*?),?$/.exec(line);
    if (!m?.[1] || m[2] === undefined) continue;
    const prop = /^core\.serialization\.property\("([^"]+)",\s*(.*)\)$/.exec(m[2]);
    out.set(prop?.[1] ?? m[1], prop?.[2] ?? m[2]);
  }
  return out;
}

/** The SDK type file an expression refers to (`Money_1.Money.optional()` → serialization/types/Money.js). */
function typeFile(expr: string): string | null {
  const m = /(\w+)_1\.(\w+)/.exec(expr);
  if (!m?.[2]) return null;
  const f = join(SER, 'types', `${m[2]}.js`);
  return existsSync(f) ? f : null;
}

function compare(op: string, node: FieldNode, file: string, path: string, out: string[]): void {
  if (node.t !== 'object') return;
  const fields = sdkFields(file);
  if (!fields) return;
  for (const [name, expr] of fields) {
    const p = path ? `${path}.${name}` : name;
    const child = node.props[name];
    if (!child) {
      out.push(`${op} ${p}: sent by the SDK, unknown to the table`);
      continue;
    }
    const inner = child.t === 'array' ? child.items : child;
    const f = typeFile(expr);
    if (f && inner.t === 'object') compare(op, inner, f, child.t === 'array' ? `${p}[]` : p, out);
  }
  for (const name of Object.keys(node.props))
    if (!fields.has(name)) out.push(`${op} ${path ? `${path}.${name}` : name}: in the table, not in the SDK`);
}

function nodeAt(root: FieldNode, path: string): FieldNode | undefined {
  let cur: FieldNode | undefined = root;
  for (const part of path.split('.')) {
    const name = part.replace(/\[\]$/, '');
    if (cur?.t !== 'object') return undefined;
    cur = cur.props[name];
    if (part.endsWith('[]')) cur = cur?.t === 'array' ? cur.items : undefined;
  }
  return cur;
}

describe('Square emulator: request tables', () => {
  it('serve exactly the operations of emulated.ts, with every emulated field and parameter checked', () => {
    expect(Object.keys(OPERATIONS).sort()).toEqual(Object.keys(EMULATED).sort());
    for (const [id, em] of Object.entries(EMULATED)) {
      const op = OPERATIONS[id];
      expect(op, id).toBeDefined();
      if (!op) continue;
      expect([op.method, op.path]).toEqual([em.method, em.path]);
      for (const [path, mode] of Object.entries(em.body ?? {})) {
        const node = op.body ? nodeAt(op.body, path) : undefined;
        expect(node, `${id} ${path}`).toBeDefined();
        expect(node?.t, `${id} ${path}`).not.toBe('unsupported');
        if (mode === 'falseOnly') expect(node?.t).toBe('falseOnly');
      }
      for (const [name, spec] of Object.entries(op.query))
        expect(spec.t === 'unsupported', `${id} ?${name}`).toBe(!(em.query ?? []).includes(name));
    }
  });

  it('know every field the pinned SDK can send, and nothing it cannot', () => {
    const findings: string[] = [];
    for (const [id, rel] of Object.entries(SDK_REQUESTS)) {
      const op = OPERATIONS[id];
      if (!op?.body) {
        findings.push(`${id}: no body in the table`);
        continue;
      }
      compare(id, op.body, join(SER, rel), '', findings);
    }
    expect(findings.filter((f) => !KNOWN_DIFFERENCES.some((k) => f.startsWith(k)))).toEqual([]);
  });

  it('know every query parameter the pinned SDK sends', () => {
    const findings: string[] = [];
    for (const [id, rel] of Object.entries(SDK_QUERY_CLIENTS)) {
      const op = OPERATIONS[id];
      if (!op) continue;
      const src = readFileSync(join(SDK, rel), 'utf8');
      const blocks = [...src.matchAll(/_queryParams = \{([\s\S]*?)\};/g)].map((m) =>
        [...(m[1] ?? '').matchAll(/^\s*(\w+):/gm)]
          .map((k) => k[1] ?? '')
          .filter((k) => k !== 'unrecognizedObjectKeys' && k !== 'omitUndefined'),
      );
      const known = Object.keys(op.query);
      const block = blocks.sort(
        (a, b) => b.filter((k) => known.includes(k)).length - a.filter((k) => known.includes(k)).length,
      )[0];
      for (const k of block ?? [])
        if (!known.includes(k)) findings.push(`${id} ?${k}: sent by the SDK, unknown to the table`);
    }
    expect(findings).toEqual([]);
  });

  const specFile = process.env['SQUARE_SPEC_FILE'];
  it.skipIf(!specFile)('are what the generator makes of the spec today (SQUARE_SPEC_FILE)', async () => {
    const doc = JSON.parse(readFileSync(specFile ?? '', 'utf8')) as SpecDocument;
    expect(await render(generate(doc), SPEC_SOURCE)).toBe(readFileSync(OUTPUT_FILE, 'utf8'));
  });
});
