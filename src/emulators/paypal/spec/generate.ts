/**
 * Generates `operations.generated.ts`, the PayPal emulator's request tables, from PayPal's published OpenAPI files
 * (https://github.com/paypal/paypal-rest-api-specifications, Apache-2.0): for every operation the emulator serves,
 * its header and query parameters, its request-body field tree (each documented field either validated, per
 * `emulated.ts`, or `unsupported`) and its error catalog (PayPal's error names, messages, issues and descriptions).
 *
 *   git clone https://github.com/paypal/paypal-rest-api-specifications /tmp/paypal-specs
 *   npm run emulator:paypal:spec -- --spec-dir /tmp/paypal-specs
 *
 * The spec repository is not vendored; `test/emulators/paypal/spec.test.ts` checks the committed tables against
 * `emulated.ts` and against the pinned SDK's request models instead.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as prettier from 'prettier';
import { EMULATED_FIELDS, SDK_ONLY_FIELDS } from './emulated.js';
import type {
  ErrorCatalogEntry,
  FieldNode,
  ObjectNode,
  OperationSpec,
  ParamSpec,
  StringNode,
} from './types.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const OUTPUT_FILE = join(HERE, 'operations.generated.ts');

interface OperationRef {
  id: string;
  file: string;
  method: OperationSpec['method'];
  path: string;
}

/** The operations the emulator serves, by PayPal operationId. */
export const OPERATIONS: readonly OperationRef[] = [
  { id: 'orders.create', file: 'checkout_orders_v2.json', method: 'POST', path: '/v2/checkout/orders' },
  { id: 'orders.get', file: 'checkout_orders_v2.json', method: 'GET', path: '/v2/checkout/orders/{id}' },
  {
    id: 'orders.capture',
    file: 'checkout_orders_v2.json',
    method: 'POST',
    path: '/v2/checkout/orders/{id}/capture',
  },
  {
    id: 'captures.get',
    file: 'payments_payment_v2.json',
    method: 'GET',
    path: '/v2/payments/captures/{capture_id}',
  },
  {
    id: 'captures.refund',
    file: 'payments_payment_v2.json',
    method: 'POST',
    path: '/v2/payments/captures/{capture_id}/refund',
  },
  {
    id: 'refunds.get',
    file: 'payments_payment_v2.json',
    method: 'GET',
    path: '/v2/payments/refunds/{refund_id}',
  },
  {
    id: 'webhooks.post',
    file: 'notifications_webhooks_v1.json',
    method: 'POST',
    path: '/v1/notifications/webhooks',
  },
  {
    id: 'webhooks.list',
    file: 'notifications_webhooks_v1.json',
    method: 'GET',
    path: '/v1/notifications/webhooks',
  },
  {
    id: 'webhooks.get',
    file: 'notifications_webhooks_v1.json',
    method: 'GET',
    path: '/v1/notifications/webhooks/{webhook_id}',
  },
  {
    id: 'webhooks.delete',
    file: 'notifications_webhooks_v1.json',
    method: 'DELETE',
    path: '/v1/notifications/webhooks/{webhook_id}',
  },
  {
    id: 'verify-webhook-signature.post',
    file: 'notifications_webhooks_v1.json',
    method: 'POST',
    path: '/v1/notifications/verify-webhook-signature',
  },
  {
    id: 'webhooks-events.list',
    file: 'notifications_webhooks_v1.json',
    method: 'GET',
    path: '/v1/notifications/webhooks-events',
  },
  {
    id: 'webhooks-events.get',
    file: 'notifications_webhooks_v1.json',
    method: 'GET',
    path: '/v1/notifications/webhooks-events/{event_id}',
  },
  {
    id: 'webhooks-events.resend',
    file: 'notifications_webhooks_v1.json',
    method: 'POST',
    path: '/v1/notifications/webhooks-events/{event_id}/resend',
  },
  {
    id: 'partner-referrals.create',
    file: 'customer_partner_referrals_v2.json',
    method: 'POST',
    path: '/v2/customer/partner-referrals',
  },
  {
    id: 'partner-referrals.read',
    file: 'customer_partner_referrals_v2.json',
    method: 'GET',
    path: '/v2/customer/partner-referrals/{partner_referral_id}',
  },
  {
    id: 'merchant-integration.find',
    file: 'customer_partner_referrals_v1.json',
    method: 'GET',
    path: '/v1/customer/partners/{partner_id}/merchant-integrations',
  },
  {
    id: 'merchant-integration.status',
    file: 'customer_partner_referrals_v1.json',
    method: 'GET',
    path: '/v1/customer/partners/{partner_id}/merchant-integrations/{merchant_id}',
  },
  { id: 'disputes.list', file: 'customer_disputes_v1.json', method: 'GET', path: '/v1/customer/disputes' },
  {
    id: 'disputes.get',
    file: 'customer_disputes_v1.json',
    method: 'GET',
    path: '/v1/customer/disputes/{id}',
  },
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: Json | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

class SpecFile {
  readonly version: string;
  constructor(
    readonly name: string,
    readonly doc: JsonObject,
  ) {
    const info = doc['info'];
    this.version = isObject(info) ? (str(info['version']) ?? '?') : '?';
  }

  /** Follows `$ref`s (`#/components/<kind>/<name>`). */
  deref(v: Json | undefined, seen: string[] = []): JsonObject {
    let cur = v;
    for (let i = 0; i < 50; i++) {
      if (!isObject(cur)) return {};
      const ref = str(cur['$ref']);
      if (!ref) return cur;
      seen.push(ref);
      const parts = ref.replace(/^#\//, '').split('/');
      let next: Json | undefined = this.doc;
      for (const p of parts) next = isObject(next) ? next[p] : undefined;
      if (next === undefined) throw new Error(`${this.name}: unresolved ${ref}`);
      cur = next;
    }
    throw new Error(`${this.name}: $ref chain too long`);
  }

  /** Dereferences and merges `allOf` parts into one schema (properties, required, and the first scalar keywords). */
  schema(v: Json | undefined): JsonObject {
    const s = this.deref(v);
    const allOf = s['allOf'];
    if (!Array.isArray(allOf)) return s;
    const props: JsonObject = {};
    const required: Json[] = [];
    const out: JsonObject = {};
    for (const part of [...allOf, { ...s, allOf: null }]) {
      const m = this.schema(part);
      for (const [k, val] of Object.entries(m)) {
        if (k === 'properties' && isObject(val)) Object.assign(props, val);
        else if (k === 'required' && Array.isArray(val)) required.push(...val);
        else if (k !== 'allOf' && !(k in out)) out[k] = val;
      }
    }
    if (Object.keys(props).length > 0) {
      out['properties'] = props;
      out['type'] = out['type'] ?? 'object';
    }
    if (required.length > 0) out['required'] = required;
    return out;
  }
}

interface Trie {
  children: Map<string, Trie>;
  deep: boolean;
  any: boolean;
}

function newTrie(): Trie {
  return { children: new Map(), deep: false, any: false };
}

function segments(path: string): string[] {
  return path
    .replace(/\[\]/g, '.[]')
    .split('.')
    .filter((s) => s !== '');
}

function buildTrie(paths: readonly string[]): Trie {
  const root = newTrie();
  for (const raw of paths) {
    let path = raw;
    let mode: 'deep' | 'any' | null = null;
    if (path.endsWith('.**')) {
      mode = 'deep';
      path = path.slice(0, -3);
    } else if (path.endsWith('=any')) {
      mode = 'any';
      path = path.slice(0, -4);
    }
    let node = root;
    for (const seg of segments(path)) {
      let child = node.children.get(seg);
      if (!child) {
        child = newTrie();
        node.children.set(seg, child);
      }
      node = child;
    }
    if (mode === 'deep') node.deep = true;
    if (mode === 'any') node.any = true;
  }
  return root;
}

const DEEP: Trie = { children: new Map(), deep: true, any: false };

class TreeBuilder {
  readonly warnings: string[] = [];
  constructor(
    private readonly spec: SpecFile,
    private readonly op: string,
  ) {}

  build(raw: Json | undefined, trie: Trie, path: string, depth = 0): FieldNode {
    if (trie.any) return { t: 'any' };
    if (depth > 25) {
      this.warnings.push(`${this.op}: ${path} nests too deep; accepted as any`);
      return { t: 'any' };
    }
    const s = this.spec.schema(raw);
    const deep = trie.deep;
    if (Array.isArray(s['oneOf']) || Array.isArray(s['anyOf'])) {
      this.warnings.push(`${this.op}: ${path || '(body)'} is a oneOf/anyOf; accepted as any`);
      return { t: 'any' };
    }
    const type = str(s['type']) ?? (isObject(s['properties']) ? 'object' : s['enum'] ? 'string' : undefined);
    if (type === 'object') {
      const props = s['properties'];
      if (!isObject(props)) return { t: 'any' };
      const out: Record<string, FieldNode> = {};
      for (const [name, propRaw] of Object.entries(props)) {
        const prop = this.spec.deref(propRaw);
        const childPath = path ? `${path}.${name}` : name;
        if (prop['readOnly'] === true) {
          out[name] = { t: 'unsupported', readOnly: true };
          continue;
        }
        const child = deep ? DEEP : trie.children.get(name);
        out[name] = child ? this.build(propRaw, child, childPath, depth + 1) : { t: 'unsupported' };
      }
      if (!deep) {
        for (const name of trie.children.keys()) {
          if (!(name in props))
            throw new Error(`${this.op}: emulated field ${path}.${name} is not in the spec`);
        }
      }
      const node: ObjectNode = { t: 'object', props: out };
      const required = Array.isArray(s['required'])
        ? s['required'].filter((r): r is string => typeof r === 'string')
        : [];
      for (const r of required) {
        const n = out[r];
        if (n?.t === 'unsupported' && !n.readOnly)
          this.warnings.push(`${this.op}: ${path ? `${path}.` : ''}${r} is required but not emulated`);
      }
      if (required.length > 0) node.required = required;
      return node;
    }
    if (type === 'array') {
      const child = deep ? DEEP : (trie.children.get('[]') ?? newTrie());
      const node: FieldNode = { t: 'array', items: this.build(s['items'], child, `${path}[]`, depth + 1) };
      const min = num(s['minItems']);
      const max = num(s['maxItems']);
      if (min !== undefined) node.min = min;
      if (max !== undefined) node.max = max;
      return node;
    }
    if (!deep && trie.children.size > 0) throw new Error(`${this.op}: ${path} is not an object in the spec`);
    if (type === 'string' || type === undefined) return stringNode(s);
    if (type === 'integer' || type === 'number') {
      const node: FieldNode = { t: type };
      const min = num(s['minimum']);
      const max = num(s['maximum']);
      if (min !== undefined) node.min = min;
      if (max !== undefined) node.max = max;
      return node;
    }
    if (type === 'boolean') return { t: 'boolean' };
    this.warnings.push(`${this.op}: ${path} has type ${type}; accepted as any`);
    return { t: 'any' };
  }
}

function stringNode(s: JsonObject): StringNode {
  const node: StringNode = { t: 'string' };
  const en = s['enum'];
  if (Array.isArray(en)) node.enum = en.filter((e): e is string => typeof e === 'string');
  const min = num(s['minLength']);
  const max = num(s['maxLength']);
  const pattern = str(s['pattern']);
  const format = str(s['format']);
  if (min !== undefined) node.min = min;
  if (max !== undefined) node.max = max;
  if (pattern !== undefined) {
    try {
      new RegExp(pattern);
      node.pattern = pattern;
    } catch {
      // A pattern JavaScript cannot compile is left out (none among the emulated fields today).
    }
  }
  if (format !== undefined) node.format = format;
  return node;
}

function errorCatalog(spec: SpecFile, responses: JsonObject): Record<string, ErrorCatalogEntry> {
  const out: Record<string, ErrorCatalogEntry> = {};
  for (const [status, resRaw] of Object.entries(responses)) {
    if (!/^[45]\d\d$/.test(status)) continue;
    const res = spec.deref(resRaw);
    const content = res['content'];
    const json = isObject(content) ? content['application/json'] : undefined;
    const schemaRaw = isObject(json) ? json['schema'] : undefined;
    const parts = isObject(schemaRaw) && Array.isArray(schemaRaw['allOf']) ? schemaRaw['allOf'] : [schemaRaw];
    const entry: { name?: string; message?: string; issues: Record<string, string> } = { issues: {} };
    for (const part of parts) {
      const s = spec.schema(part);
      const props = s['properties'];
      if (!isObject(props)) continue;
      const name = spec.deref(props['name'])['enum'];
      const message = spec.deref(props['message'])['enum'];
      if (Array.isArray(name) && typeof name[0] === 'string') entry.name = name[0];
      if (Array.isArray(message) && typeof message[0] === 'string') entry.message = message[0];
      const details = spec.deref(props['details']);
      const items = spec.deref(details['items']);
      const anyOf = items['anyOf'];
      if (!Array.isArray(anyOf)) continue;
      for (const alt of anyOf) {
        const altProps = spec.deref(alt)['properties'];
        if (!isObject(altProps)) continue;
        const issue = spec.deref(altProps['issue'])['enum'];
        const description = spec.deref(altProps['description'])['enum'];
        if (!Array.isArray(issue) || typeof issue[0] !== 'string') continue;
        entry.issues[issue[0]] =
          Array.isArray(description) && typeof description[0] === 'string' ? description[0] : '';
      }
    }
    if (entry.name || Object.keys(entry.issues).length > 0) out[status] = entry;
  }
  return out;
}

function params(spec: SpecFile, raw: Json | undefined, where: 'header' | 'query'): Record<string, ParamSpec> {
  const out: Record<string, ParamSpec> = {};
  if (!Array.isArray(raw)) return out;
  for (const pRaw of raw) {
    const p = spec.deref(pRaw);
    if (p['in'] !== where) continue;
    const name = str(p['name']);
    if (!name) continue;
    out[where === 'header' ? name.toLowerCase() : name] = {
      required: p['required'] === true,
      schema: stringNode(spec.deref(p['schema'])),
    };
  }
  return out;
}

/** Marks a field the spec lacks (but the SDK sends) as documented-but-not-emulated. */
function addUnsupported(root: FieldNode, segs: string[], op: string, path: string): void {
  let node: FieldNode = root;
  for (const [i, seg] of segs.entries()) {
    if (node.t === 'array' && seg === '[]') {
      node = node.items;
      continue;
    }
    if (node.t !== 'object') return; // inside an unsupported or free-form part: already refused or accepted
    const props = node.props as Record<string, FieldNode>;
    if (i === segs.length - 1) {
      if (props[seg])
        throw new Error(`${op}: SDK-only field ${path} is in the spec; remove it from SDK_ONLY_FIELDS`);
      props[seg] = { t: 'unsupported' };
      return;
    }
    const next = props[seg];
    if (!next) throw new Error(`${op}: SDK-only field ${path}: ${seg} is not in the spec`);
    node = next;
  }
}

export interface Generated {
  source: string;
  operations: Record<string, OperationSpec>;
  warnings: string[];
}

export function generate(specDir: string, sourceLabel: string): Generated {
  const files = new Map<string, SpecFile>();
  const load = (name: string): SpecFile => {
    let f = files.get(name);
    if (!f) {
      const doc = JSON.parse(readFileSync(join(specDir, name), 'utf8')) as Json;
      if (!isObject(doc)) throw new Error(`${name}: not a JSON object`);
      f = new SpecFile(name, doc);
      files.set(name, f);
    }
    return f;
  };
  const operations: Record<string, OperationSpec> = {};
  const warnings: string[] = [];
  for (const ref of OPERATIONS) {
    const spec = load(ref.file);
    const paths = spec.doc['paths'];
    const item = isObject(paths) ? paths[ref.path] : undefined;
    const op = isObject(item) ? item[ref.method.toLowerCase()] : undefined;
    if (!isObject(op)) throw new Error(`${ref.file}: no ${ref.method} ${ref.path}`);
    if (op['operationId'] !== ref.id)
      throw new Error(
        `${ref.file}: ${ref.method} ${ref.path} is ${String(op['operationId'])}, not ${ref.id}`,
      );
    const itemParams = isObject(item) ? item['parameters'] : undefined;
    const allParams: Json[] = Array.isArray(itemParams) ? [...itemParams] : [];
    if (Array.isArray(op['parameters'])) allParams.push(...op['parameters']);
    const requestBody = spec.deref(op['requestBody']);
    const content = requestBody['content'];
    const json = isObject(content) ? content['application/json'] : undefined;
    const bodySchema = isObject(json) ? json['schema'] : undefined;
    let body: FieldNode | null = null;
    if (bodySchema !== undefined) {
      const emulated = EMULATED_FIELDS[ref.id];
      if (!emulated) throw new Error(`emulated.ts has no entry for ${ref.id}, which takes a body`);
      const builder = new TreeBuilder(spec, ref.id);
      body = builder.build(bodySchema, buildTrie(emulated), '');
      for (const path of SDK_ONLY_FIELDS[ref.id] ?? []) addUnsupported(body, segments(path), ref.id, path);
      warnings.push(...builder.warnings);
    }
    const responses = op['responses'];
    operations[ref.id] = {
      id: ref.id,
      method: ref.method,
      path: ref.path,
      source: `${ref.file} (${spec.version})`,
      headers: params(spec, allParams, 'header'),
      query: params(spec, allParams, 'query'),
      body,
      bodyRequired: requestBody['required'] === true,
      errors: isObject(responses) ? errorCatalog(spec, responses) : {},
    };
  }
  for (const id of Object.keys(EMULATED_FIELDS))
    if (!operations[id]?.body) throw new Error(`emulated.ts names ${id}, which is not a generated body`);
  return { source: sourceLabel, operations, warnings };
}

export async function render(g: Generated): Promise<string> {
  const header =
    `// Generated by src/emulators/paypal/spec/generate.ts from ${g.source} and emulated.ts. Do not edit:\n` +
    '// run `npm run emulator:paypal:spec -- --spec-dir <clone of paypal/paypal-rest-api-specifications>`.\n';
  const src =
    header +
    "import type { OperationSpec } from './types.js';\n\n" +
    `export const SPEC_SOURCE = ${JSON.stringify(g.source)};\n\n` +
    '/** Every operation the emulator serves, by PayPal operationId. */\n' +
    `export const OPERATIONS: Readonly<Record<string, OperationSpec>> = ${JSON.stringify(g.operations)};\n`;
  const config = (await prettier.resolveConfig(OUTPUT_FILE)) ?? {};
  return prettier.format(src, { ...config, parser: 'typescript' });
}

function sourceLabel(specDir: string): string {
  try {
    const commit = execFileSync('git', ['-C', specDir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    return `paypal/paypal-rest-api-specifications@${commit}`;
  } catch {
    return 'paypal/paypal-rest-api-specifications';
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'spec-dir': { type: 'string' } } });
  const dir = values['spec-dir'];
  if (!dir)
    throw new Error('usage: npm run emulator:paypal:spec -- --spec-dir <clone of the specs repository>');
  const openapi = join(dir, 'openapi');
  const g = generate(openapi, sourceLabel(dir));
  writeFileSync(OUTPUT_FILE, await render(g));
  for (const w of g.warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(`wrote ${OUTPUT_FILE} (${Object.keys(g.operations).length} operations)\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
