/**
 * Generates `operations.generated.ts`, the Square emulator's request tables, from Square's OpenAPI document
 * (https://github.com/square/connect-api-specification, `api.json`, Apache-2.0): for every operation the emulator
 * serves (`emulated.ts`), its OAuth scopes, query parameters and request-body field tree (each documented field either
 * checked or `unsupported`), the error codes Square lists for it, the enums those fields use, and the list of every
 * operation Square documents (the ones not emulated are answered with a clear "not emulated" error).
 *
 *   git clone https://github.com/square/connect-api-specification /tmp/square-spec
 *   npm run emulator:square:spec -- --spec /tmp/square-spec/api.json --source square/connect-api-specification@<commit>
 *
 * The spec is not vendored; `test/emulators/square/spec.test.ts` holds the committed tables to `emulated.ts` and to the
 * pinned SDK's request serializers (and regenerates them when `SQUARE_SPEC_FILE` points at `api.json`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as prettier from 'prettier';
import { EMULATED, SDK_ONLY_FIELDS, type EmulatedOperation } from './emulated.js';
import type { FieldNode, ObjectNode, OperationSpec, QueryParamSpec } from './types.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const OUTPUT_FILE = join(HERE, 'operations.generated.ts');

interface Schema {
  $ref?: string;
  description?: string;
  type?: string;
  enum?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  readOnly?: boolean;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
}

interface Parameter {
  name: string;
  in: string;
  schema: Schema;
}

interface Operation {
  operationId: string;
  security?: Array<Record<string, string[] | null>>;
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  'x-endpoint-errors'?: Array<{ 'error-code': string }>;
}

export interface SpecDocument {
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Schema>;
    securitySchemes?: Record<string, { flows?: { authorizationCode?: { scopes?: Record<string, string> } } }>;
  };
  'x-fern-global-headers'?: Array<{ header: string; type: string }>;
}

export interface Generated {
  operations: Record<string, OperationSpec>;
  enums: Record<string, string[]>;
  allOperations: Array<{ id: string; method: string; path: string }>;
  eventTypes: string[];
  scopes: string[];
  squareVersion: string | null;
}

const refName = (ref: string): string => ref.replace('#/components/schemas/', '');

class Builder {
  readonly enums: Record<string, string[]> = {};

  constructor(private readonly doc: SpecDocument) {}

  /** Resolves `$ref`s, keeping the name of the last schema referenced. */
  resolve(s: Schema): { schema: Schema; name: string | undefined } {
    let cur = s;
    let name: string | undefined;
    for (let i = 0; cur.$ref && i < 10; i++) {
      name = refName(cur.$ref);
      const next = this.doc.components.schemas[name];
      if (!next) throw new Error(`Unresolved $ref ${cur.$ref}`);
      cur = next;
    }
    return { schema: cur, name };
  }

  /** A node for `s` at `path`: `full` builds the whole subtree; otherwise only what `emulated` lists under `path`. */
  node(
    s: Schema,
    path: string,
    emulated: Readonly<Record<string, true | 'falseOnly'>>,
    full: boolean,
    depth = 0,
  ): FieldNode {
    if (depth > 12) throw new Error(`Schema too deep at ${path}`);
    const { schema, name } = this.resolve(s);
    const mark = emulated[path];
    if (!full && mark === 'falseOnly') {
      if (schema.type !== 'boolean') throw new Error(`falseOnly on a non-boolean: ${path}`);
      return { t: 'falseOnly' };
    }
    const isFull = full || mark === true;
    if (schema.enum) {
      if (name) this.enums[name] = schema.enum;
      return name ? { t: 'string', enumRef: name } : { t: 'string' };
    }
    switch (schema.type) {
      case 'string':
        return {
          t: 'string',
          ...(schema.minLength !== undefined ? { min: schema.minLength } : {}),
          ...(schema.maxLength !== undefined ? { max: schema.maxLength } : {}),
        };
      case 'integer':
        return {
          t: 'integer',
          ...(schema.minimum !== undefined ? { min: schema.minimum } : {}),
          ...(schema.maximum !== undefined ? { max: schema.maximum } : {}),
        };
      case 'number':
        return { t: 'number' };
      case 'boolean':
        return { t: 'boolean' };
      case 'array':
        if (!schema.items) throw new Error(`Array without items at ${path}`);
        return { t: 'array', items: this.node(schema.items, `${path}[]`, emulated, isFull, depth + 1) };
      default:
        break;
    }
    if (!schema.properties && schema.additionalProperties && typeof schema.additionalProperties === 'object')
      return {
        t: 'map',
        values: this.node(schema.additionalProperties, `${path}{}`, emulated, true, depth + 1),
      };
    if (!schema.properties) return isFull ? { t: 'map', values: { t: 'string' } } : { t: 'unsupported' };
    return this.object(schema, name, path, emulated, isFull, depth);
  }

  object(
    schema: Schema,
    name: string | undefined,
    path: string,
    emulated: Readonly<Record<string, true | 'falseOnly'>>,
    full: boolean,
    depth: number,
  ): ObjectNode {
    const props: Record<string, FieldNode> = {};
    const keys = Object.keys(emulated);
    for (const [k, child] of Object.entries(schema.properties ?? {})) {
      const p = path === '' ? k : `${path}.${k}`;
      const resolved = this.resolve(child).schema;
      const readOnly = child.readOnly === true || resolved.readOnly === true;
      const listed = emulated[p] !== undefined;
      const under = keys.some((e) => e.startsWith(`${p}.`) || e.startsWith(`${p}[]`));
      if (full && readOnly && !listed) props[k] = { t: 'unsupported', readOnly: true };
      else if (full || listed || under) props[k] = this.node(child, p, emulated, full, depth + 1);
      else props[k] = readOnly ? { t: 'unsupported', readOnly: true } : { t: 'unsupported' };
    }
    return {
      t: 'object',
      ...(name ? { name } : {}),
      props,
      ...(schema.required?.length ? { required: schema.required } : {}),
    };
  }
}

/** Every emulated path must exist in the spec (a typo in emulated.ts would otherwise emulate nothing). */
function checkListed(node: FieldNode, path: string, listed: Set<string>): void {
  listed.delete(path);
  if (node.t === 'object')
    for (const [k, v] of Object.entries(node.props)) checkListed(v, path ? `${path}.${k}` : k, listed);
  else if (node.t === 'array') checkListed(node.items, `${path}[]`, listed);
}

export function generate(doc: SpecDocument): Generated {
  const builder = new Builder(doc);
  const operations: Record<string, OperationSpec> = {};
  for (const [id, em] of Object.entries(EMULATED)) operations[id] = operation(doc, builder, id, em);
  const allOperations: Generated['allOperations'] = [];
  for (const [path, methods] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(methods))
      allOperations.push({ id: op.operationId, method: method.toUpperCase(), path });
  allOperations.sort((a, b) =>
    a.path === b.path ? a.method.localeCompare(b.method) : a.path.localeCompare(b.path),
  );
  const versionHeader = doc['x-fern-global-headers']?.find((h) => h.header === 'Square-Version');
  const squareVersion = /"([^"]+)"/.exec(versionHeader?.type ?? '')?.[1] ?? null;
  const enums: Record<string, string[]> = {};
  for (const k of Object.keys(builder.enums).sort()) enums[k] = builder.enums[k] ?? [];
  return {
    operations,
    enums,
    allOperations,
    eventTypes: eventTypes(doc),
    scopes: Object.keys(
      doc.components.securitySchemes?.['oauth2']?.flows?.authorizationCode?.scopes ?? {},
    ).sort(),
    squareVersion,
  };
}

/**
 * Webhook event types, from the `*Event` schemas: the type quoted in their `type` description (`"payment.updated"`),
 * or, where Square gives none, the schema name in dotted form (`DisputeStateUpdatedEvent` → `dispute.state.updated`).
 */
function eventTypes(doc: SpecDocument): string[] {
  const out = new Set<string>();
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    if (!name.endsWith('Event') || name === 'Event') continue;
    const props = schema.properties ?? {};
    if (!props['type'] || !props['data']) continue;
    const described = /`"([a-z0-9_.]+)"`/.exec(props['type'].description ?? '')?.[1];
    if (described) {
      out.add(described);
      continue;
    }
    const words = name
      .replace(/Event$/, '')
      .replace(/GiftCard/g, 'Gift_card')
      .replace(/ScheduledShift/g, 'Scheduled_shift')
      .split(/(?=[A-Z])/)
      .map((w) => w.toLowerCase());
    out.add(words.join('.'));
  }
  return [...out].sort();
}

function operation(doc: SpecDocument, builder: Builder, id: string, em: EmulatedOperation): OperationSpec {
  const op = doc.paths[em.path]?.[em.method.toLowerCase()];
  if (!op) throw new Error(`${id}: ${em.method} ${em.path} is not in the spec`);
  if (op.operationId !== id)
    throw new Error(`${em.method} ${em.path} is ${op.operationId} in the spec, not ${id}`);
  const security = op.security ?? [];
  const auth: OperationSpec['auth'] =
    security.length === 0 ? 'none' : security[0]?.['oauth2'] === null ? 'client' : 'oauth2';
  const scopes = security.flatMap((s) => s['oauth2'] ?? []);
  const query: Record<string, QueryParamSpec> = {};
  const emulatedQuery = new Set(em.query ?? []);
  for (const p of op.parameters ?? []) {
    if (p.in !== 'query') continue;
    if (!emulatedQuery.delete(p.name)) {
      query[p.name] = { t: 'unsupported' };
      continue;
    }
    const { schema, name } = builder.resolve(p.schema);
    if (schema.enum) {
      if (name) builder.enums[name] = schema.enum;
      query[p.name] = name ? { t: 'string', enumRef: name } : { t: 'string' };
    } else if (schema.type === 'integer' || schema.type === 'boolean') query[p.name] = { t: schema.type };
    else query[p.name] = { t: 'string' };
  }
  if (emulatedQuery.size > 0)
    throw new Error(`${id}: query parameters not in the spec: ${[...emulatedQuery].join(', ')}`);
  const bodySchema = op.requestBody?.content?.['application/json']?.schema;
  let body: ObjectNode | null = null;
  const emulatedBody = em.body ?? {};
  if (bodySchema) {
    const { schema, name } = builder.resolve(bodySchema);
    body = builder.object(schema, name, '', emulatedBody, false, 0);
    for (const f of SDK_ONLY_FIELDS[id] ?? []) {
      if (body.props[f]) throw new Error(`${id}: ${f} is in the spec now; remove it from SDK_ONLY_FIELDS`);
      body = { ...body, props: { ...body.props, [f]: { t: 'unsupported' } } };
    }
    const listed = new Set(Object.keys(emulatedBody));
    checkListed(body, '', listed);
    if (listed.size > 0) throw new Error(`${id}: body fields not in the spec: ${[...listed].join(', ')}`);
  } else if (Object.keys(emulatedBody).length > 0) throw new Error(`${id} takes no body in the spec`);
  return {
    id,
    method: em.method,
    path: em.path,
    auth,
    scopes,
    query,
    body,
    errors: (op['x-endpoint-errors'] ?? []).map((e) => e['error-code']),
  };
}

export async function render(g: Generated, source: string): Promise<string> {
  const text = `// Generated by src/emulators/square/spec/generate.ts from ${source} and emulated.ts. Do not edit:
// run \`npm run emulator:square:spec -- --spec <api.json of square/connect-api-specification> --source <repo@commit>\`.
import type { OperationSpec } from './types.js';

export const SPEC_SOURCE = ${JSON.stringify(source)};

/** The Square-Version the spec was published for. */
export const SPEC_SQUARE_VERSION = ${JSON.stringify(g.squareVersion)};

/** Every operation the emulator serves, by Square operationId. */
export const OPERATIONS: Readonly<Record<string, OperationSpec>> = ${JSON.stringify(g.operations)};

/** Square's enums used by the emulated fields. */
export const ENUMS: Readonly<Record<string, readonly string[]>> = ${JSON.stringify(g.enums)};

/** OAuth permissions Square documents (the authorize page accepts only these). */
export const SCOPES: readonly string[] = ${JSON.stringify(g.scopes)};

/** Webhook event types Square documents (subscriptions may name only these). */
export const EVENT_TYPES: readonly string[] = ${JSON.stringify(g.eventTypes)};

/** Every operation Square documents (method, path); those not in OPERATIONS are answered "not emulated". */
export const ALL_OPERATIONS: ReadonlyArray<{ id: string; method: string; path: string }> = ${JSON.stringify(g.allOperations)};
`;
  const config = await prettier.resolveConfig(OUTPUT_FILE);
  return prettier.format(text, { ...config, filepath: OUTPUT_FILE });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { spec: { type: 'string' }, source: { type: 'string' } } });
  if (!values.spec) throw new Error('--spec <path to api.json> is required');
  const doc = JSON.parse(readFileSync(values.spec, 'utf8')) as SpecDocument;
  const source = values.source ?? `square/connect-api-specification (api.json ${doc.info.version})`;
  writeFileSync(OUTPUT_FILE, await render(generate(doc), source));
  process.stdout.write(`Wrote ${OUTPUT_FILE}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
