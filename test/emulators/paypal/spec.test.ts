import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EMULATED_FIELDS, SDK_ONLY_FIELDS } from '../../../src/emulators/paypal/spec/emulated.js';
import { OUTPUT_FILE, generate, render } from '../../../src/emulators/paypal/spec/generate.js';
import { OPERATIONS } from '../../../src/emulators/paypal/spec/operations.generated.js';
import type { FieldNode } from '../../../src/emulators/paypal/spec/types.js';
import { SDK_HEADER_SUPPLEMENT } from '../../../src/emulators/paypal/server.js';

/**
 * The emulator's request tables are generated from PayPal's OpenAPI files (not vendored); these tests hold them to
 * the pinned SDK instead, so bumping @paypal/paypal-server-sdk shows what the tables miss.
 */
const SDK_SRC = join(process.cwd(), 'node_modules', '@paypal', 'paypal-server-sdk', 'src');
const MODELS = join(SDK_SRC, 'models');

const modelFile = (schemaId: string): string => join(MODELS, `${schemaId.replace(/Schema$/, '')}.ts`);

/** json name → schema expression of an SDK object model (`object({ camel: ['snake', expr] })`). */
function sdkFields(schemaId: string): Map<string, string> | null {
  const src = readFileSync(modelFile(schemaId), 'utf8');
  const m = /(?:object|expandoObject|strictObject)\(\{([\s\S]*?)\}\)/.exec(src);
  if (!m?.[1]) return null;
  const out = new Map<string, string>();
  for (const f of m[1].matchAll(/(\w+):\s*\[\s*'([^']+)',\s*([^\]]+)\]/g))
    if (f[2] && f[3]) out.set(f[2], f[3]);
  return out;
}

function sdkEnum(schemaId: string): string[] | null {
  const m = /export enum \w+ \{([\s\S]*?)\}/.exec(readFileSync(modelFile(schemaId), 'utf8'));
  return m?.[1] ? [...m[1].matchAll(/=\s*'([^']+)'/g)].map((x) => x[1] ?? '') : null;
}

function firstModel(expr: string): string | undefined {
  return [...expr.matchAll(/(\w+Schema)\b/g)].map((x) => x[1] ?? '').find((r) => existsSync(modelFile(r)));
}

/** Enum values the SDK offers that PayPal refuses, on emulated fields (the emulator refuses them too). */
const ENUM_DEVIATIONS: Readonly<Record<string, readonly string[]>> = {
  // PayPal answers INVALID_PARAMETER_VALUE for BILLING here (woocommerce/woocommerce-paypal-payments#3545);
  // the published spec lists LOGIN, GUEST_CHECKOUT, NO_PREFERENCE.
  'orders.create payment_source.paypal.experience_context.landing_page': ['BILLING'],
};

interface Finding {
  path: string;
  problem: string;
}

function compare(op: string, node: FieldNode, expr: string, path: string, out: Finding[]): void {
  if (node.t === 'unsupported' || node.t === 'any') return;
  if (node.t === 'array') {
    compare(op, node.items, expr.replace(/^.*?array\(/, ''), `${path}[]`, out);
    return;
  }
  const model = firstModel(expr);
  if (node.t === 'object') {
    const fields = model ? sdkFields(model) : null;
    if (!fields) {
      out.push({ path, problem: `an object in the spec, ${expr} in the SDK` });
      return;
    }
    for (const [json, e] of fields) {
      const child = node.props[json];
      const childPath = path ? `${path}.${json}` : json;
      if (!child) out.push({ path: childPath, problem: 'the SDK can send it; the tables do not know it' });
      else compare(op, child, e, childPath, out);
    }
    return;
  }
  if (node.t === 'string' && node.enum && model) {
    const values = sdkEnum(model);
    if (!values) return;
    const allowed = ENUM_DEVIATIONS[`${op} ${path}`] ?? [];
    const sdkOnly = values.filter((v) => !node.enum?.includes(v) && !allowed.includes(v));
    const specOnly = node.enum.filter((v) => !values.includes(v));
    if (sdkOnly.length > 0 || specOnly.length > 0)
      out.push({
        path,
        problem: `enum differs: SDK only ${sdkOnly.join(',')}; spec only ${specOnly.join(',')}`,
      });
  }
}

function nodeAt(root: FieldNode | null, path: string): FieldNode | undefined {
  let node: FieldNode | undefined = root ?? undefined;
  for (const seg of path.replace(/\[\]/g, '.[]').split('.').filter(Boolean)) {
    if (!node) return undefined;
    if (seg === '[]') node = node.t === 'array' ? node.items : undefined;
    else node = node.t === 'object' ? node.props[seg] : undefined;
  }
  return node;
}

const SDK_BODIES: ReadonlyArray<readonly [string, string]> = [
  ['orders.create', 'orderRequestSchema'],
  ['orders.capture', 'orderCaptureRequestSchema'],
  ['captures.refund', 'refundRequestSchema'],
];

describe('generated request tables', () => {
  it('emulate every field emulated.ts names (each is in PayPal’s spec and validated, not refused)', () => {
    for (const [op, paths] of Object.entries(EMULATED_FIELDS)) {
      const body = OPERATIONS[op]?.body ?? null;
      expect(body, op).not.toBeNull();
      for (const raw of paths) {
        const path = raw.replace(/\.\*\*$/, '').replace(/=any$/, '');
        const node = nodeAt(body, path);
        expect(node, `${op} ${path}`).toBeDefined();
        expect(node?.t, `${op} ${path}`).not.toBe('unsupported');
      }
    }
  });

  it('know every field the pinned SDK can send, with the same enum values on emulated fields', () => {
    const findings: Finding[] = [];
    for (const [op, model] of SDK_BODIES) {
      const body = OPERATIONS[op]?.body;
      if (!body) throw new Error(`no body for ${op}`);
      const out: Finding[] = [];
      compare(op, body, model, '', out);
      findings.push(...out.map((f) => ({ ...f, path: `${op} ${f.path}` })));
    }
    expect(findings).toEqual([]);
  });

  it('list as SDK-only only fields the SDK has and the spec lacks (refused as not emulated)', () => {
    for (const [op, paths] of Object.entries(SDK_ONLY_FIELDS)) {
      const model = SDK_BODIES.find(([o]) => o === op)?.[1];
      if (!model) throw new Error(`no SDK model for ${op}`);
      for (const path of paths) {
        expect(nodeAt(OPERATIONS[op]?.body ?? null, path), `${op} ${path}`).toEqual({ t: 'unsupported' });
        let expr = model;
        for (const seg of path.split('.')) {
          const m = firstModel(expr);
          const fields = m ? sdkFields(m) : null;
          const next = fields?.get(seg);
          expect(next, `SDK has ${op} ${path}`).toBeDefined();
          expr = next ?? '';
        }
      }
    }
  });

  it('accept every header the SDK sends on the emulated operations (or refuse it on purpose)', () => {
    const methods: ReadonlyArray<readonly [string, string, string]> = [
      ['ordersController.ts', 'createOrder', 'orders.create'],
      ['ordersController.ts', 'getOrder', 'orders.get'],
      ['ordersController.ts', 'captureOrder', 'orders.capture'],
      ['paymentsController.ts', 'getCapturedPayment', 'captures.get'],
      ['paymentsController.ts', 'refundCapturedPayment', 'captures.refund'],
      ['paymentsController.ts', 'getRefund', 'refunds.get'],
    ];
    const refusedOnPurpose = new Set(['paypal-mock-response']);
    for (const [file, method, op] of methods) {
      const src = readFileSync(join(SDK_SRC, 'controllers', file), 'utf8');
      const start = src.indexOf(`async ${method}(`);
      const end = src.indexOf('async ', start + 10);
      const body = src.slice(start, end === -1 ? undefined : end);
      const sent = [...body.matchAll(/req\.header\(\s*'([^']+)'/g)].map((m) => (m[1] ?? '').toLowerCase());
      expect(sent.length, `${method} sends headers`).toBeGreaterThan(0);
      const spec = OPERATIONS[op];
      for (const h of sent) {
        if (h === 'content-type' || refusedOnPurpose.has(h)) continue;
        const known =
          Boolean(spec?.headers[h]) ||
          (SDK_HEADER_SUPPLEMENT[op] ?? []).includes(h) ||
          h === 'paypal-partner-attribution-id';
        expect(known, `${op} header ${h}`).toBe(true);
      }
    }
  });

  it('carry PayPal’s error catalogs (issues and descriptions) for the operations', () => {
    expect(OPERATIONS['orders.capture']?.errors['422']?.issues['ORDER_NOT_APPROVED']).toMatch(
      /not yet approved/,
    );
    expect(OPERATIONS['captures.refund']?.errors['422']?.issues['REFUND_AMOUNT_EXCEEDED']).toMatch(
      /less than or equal/,
    );
    expect(OPERATIONS['orders.create']?.errors['400']?.name).toBe('INVALID_REQUEST');
  });

  const specDir = process.env['PAYPAL_SPEC_DIR'];
  it.skipIf(!specDir)(
    'match a fresh generation from PAYPAL_SPEC_DIR (a clone of paypal-rest-api-specifications)',
    async () => {
      const g = generate(
        join(specDir ?? '', 'openapi'),
        (readFileSync(OUTPUT_FILE, 'utf8').match(/from (\S+) and/) ?? [])[1] ?? '',
      );
      expect(await render(g)).toBe(readFileSync(OUTPUT_FILE, 'utf8'));
    },
  );
});
