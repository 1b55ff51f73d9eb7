/**
 * Generates the Stripe emulator's parameter and object tables from the pinned `stripe` SDK's generated typings
 * (which Stripe generates from its OpenAPI spec), so that they are derived, never written by hand:
 *
 * - `params.generated.ts`: for every route the emulator serves (read from `router.get/post/delete('…')` in
 *   `resources/*.ts`), the parameter tree of the SDK method that calls that endpoint (found through the
 *   `_makeRequest('METHOD', '/v1/…')` call in the SDK's `resources/**.js`, then the method's `params` type in the
 *   `.d.ts` next to it, resolved with the TypeScript type checker);
 * - `objects.generated.ts`: the top-level fields (and their primitive types) of the objects the emulator returns;
 * - the "Parameters" section of `docs/emulator.md`, rendered from the support table (`support.ts`).
 *
 * Run with `npm run emulator:spec`. `test/emulators/stripe/spec.test.ts` runs `generate()` in memory and fails when
 * the committed files differ (a bumped SDK, a new route, an edited support table).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import ts from 'typescript';
import type { ParamSpec } from './types.js';
import { renderSupportMarkdown, SUPPORT_DOC_BEGIN, SUPPORT_DOC_END } from './support.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = join(HERE, '..', '..', '..', '..');
const SDK_ROOT = join(REPO_ROOT, 'node_modules', 'stripe');
const SDK_RESOURCES = join(SDK_ROOT, 'esm', 'resources');
const EMULATOR_RESOURCES = join(HERE, '..', 'resources');
export const PARAMS_FILE = join(HERE, 'params.generated.ts');
export const OBJECTS_FILE = join(HERE, 'objects.generated.ts');
export const DOCS_FILE = join(REPO_ROOT, 'docs', 'emulator.md');

/**
 * The objects the emulator returns: SDK file (under esm/resources) and interface (or type) name. The key of each
 * generated entry is the interface's own `object` literal ('checkout.session', 'item', …), read from the typings.
 */
const OBJECTS: readonly (readonly [file: string, name: string])[] = [
  ['Accounts.d.ts', 'Account'],
  ['Checkout/Sessions.d.ts', 'Session'],
  ['LineItems.d.ts', 'LineItem'],
  ['PaymentIntents.d.ts', 'PaymentIntent'],
  ['Charges.d.ts', 'Charge'],
  ['Refunds.d.ts', 'Refund'],
  ['ApplicationFees.d.ts', 'ApplicationFee'],
  ['Transfers.d.ts', 'Transfer'],
  ['Disputes.d.ts', 'Dispute'],
  ['Customers.d.ts', 'Customer'],
  ['Coupons.d.ts', 'Coupon'],
  ['PromotionCodes.d.ts', 'PromotionCode'],
  ['WebhookEndpoints.d.ts', 'WebhookEndpoint'],
  ['Events.d.ts', 'Event'],
  ['Products.d.ts', 'Product'],
  ['Prices.d.ts', 'Price'],
  ['PaymentMethods.d.ts', 'PaymentMethod'],
  ['TestHelpers/TestClocks.d.ts', 'TestClock'],
  ['Subscriptions.d.ts', 'Subscription'],
  ['SubscriptionItems.d.ts', 'SubscriptionItem'],
  ['Invoices.d.ts', 'Invoice'],
  ['InvoiceLineItems.d.ts', 'InvoiceLineItem'],
  ['InvoicePayments.d.ts', 'InvoicePayment'],
  ['BillingPortal/Sessions.d.ts', 'Session'],
];

/**
 * Whether a `number` property is a float in Stripe's spec, from its documentation (see types.ts): Stripe documents
 * its floats ("A positive float larger than 0…", "A non-negative decimal between 0 and 100…", "The percent owned…");
 * a property documented as an integer, or not documented as a float, is an integer.
 */
function isFloatDoc(doc: string): boolean {
  if (/\binteger\b/i.test(doc)) return false;
  return /\bfloat\b|\bdecimal\b|\bpercent/i.test(doc.replace(/zero-decimal/gi, ''));
}

export interface Generated {
  params: string;
  objects: string;
  /** docs/emulator.md with its generated Parameters section, or null when the markers are missing. */
  docs: string | null;
  /** Emulator routes with no SDK endpoint (should stay empty). */
  unmatched: string[];
}

/** `router.get('/v1/…', …)` calls in the emulator's resources: `GET /v1/checkout/sessions/:id`. */
export function emulatorRoutes(): string[] {
  const routes = new Set<string>();
  for (const file of readdirSync(EMULATOR_RESOURCES)) {
    if (!file.endsWith('.ts')) continue;
    const src = readFileSync(join(EMULATOR_RESOURCES, file), 'utf8');
    for (const m of src.matchAll(/router\.(get|post|delete)\(\s*'([^']+)'/g))
      routes.add(`${(m[1] ?? '').toUpperCase()} ${m[2] ?? ''}`);
  }
  return [...routes].sort();
}

const normalizeRoute = (route: string): string => route.replace(/:[A-Za-z_]+/g, ':*');

function walk(dir: string, ext: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walk(full, ext, out);
    else if (entry.name.endsWith(ext) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

interface SdkEndpoint {
  jsFile: string;
  className: string;
  method: string;
  /** Number of path parameters (`${encodeURIComponent(id)}`) in the path. */
  pathParams: number;
}

/** Every `this._makeRequest('METHOD', '/v1/…')` in the SDK's resources, keyed by `METHOD /v1/path/:*`. */
function sdkEndpoints(): Map<string, SdkEndpoint[]> {
  const out = new Map<string, SdkEndpoint[]>();
  for (const jsFile of walk(SDK_RESOURCES, '.js')) {
    const sf = ts.createSourceFile(jsFile, readFileSync(jsFile, 'utf8'), ts.ScriptTarget.Latest, false);
    for (const stmt of sf.statements) {
      if (!ts.isClassDeclaration(stmt) || !stmt.name) continue;
      const className = stmt.name.text;
      for (const member of stmt.members) {
        if (!ts.isMethodDeclaration(member) || !ts.isIdentifier(member.name)) continue;
        const method = member.name.text;
        const visit = (node: ts.Node): void => {
          if (
            ts.isCallExpression(node) &&
            ts.isPropertyAccessExpression(node.expression) &&
            node.expression.name.text === '_makeRequest'
          ) {
            const [verb, path] = node.arguments;
            if (verb && ts.isStringLiteral(verb) && path) {
              let route: string | null = null;
              let pathParams = 0;
              if (ts.isStringLiteral(path) || ts.isNoSubstitutionTemplateLiteral(path)) route = path.text;
              else if (ts.isTemplateExpression(path)) {
                route = path.head.text;
                for (const span of path.templateSpans) {
                  route += `:*${span.literal.text}`;
                  pathParams++;
                }
              }
              if (route !== null) {
                const key = `${verb.text} ${route}`;
                const list = out.get(key) ?? [];
                list.push({ jsFile, className, method, pathParams });
                out.set(key, list);
              }
            }
          }
          ts.forEachChild(node, visit);
        };
        visit(member);
      }
    }
  }
  return out;
}

function sdkName(jsFile: string, method: string): string {
  const rel = relative(SDK_RESOURCES, jsFile).replace(/\.js$/, '');
  const parts = rel.split(/[\\/]/).map((p) => p.charAt(0).toLowerCase() + p.slice(1));
  return [...parts, method].join('.');
}

class Walker {
  readonly problems: string[] = [];
  constructor(readonly checker: ts.TypeChecker) {}

  private docOf(symbol: ts.Symbol): string {
    return ts.displayPartsToString(symbol.getDocumentationComment(this.checker));
  }

  /** The parameter tree of one property type. `doc` is the property's documentation (integer vs float). */
  spec(type: ts.Type, doc: string, where: string, depth = 0): ParamSpec {
    if (depth > 12) {
      this.problems.push(`${where}: nesting deeper than 12`);
      return { kind: 'string' };
    }
    const members = type.isUnion() ? type.types : [type];
    let emptyable = false;
    let stringAny = false;
    const literals: string[] = [];
    let bool = false;
    let num = false;
    const others: ts.Type[] = [];
    for (const t of members) {
      const f = t.flags;
      if (f & (ts.TypeFlags.Undefined | ts.TypeFlags.Null | ts.TypeFlags.Void)) continue;
      if (t.isStringLiteral()) {
        if (t.value === '') emptyable = true;
        else literals.push(t.value);
      } else if (f & ts.TypeFlags.String) stringAny = true;
      else if (f & ts.TypeFlags.BooleanLiteral || f & ts.TypeFlags.Boolean) bool = true;
      else if (f & ts.TypeFlags.Number || f & ts.TypeFlags.NumberLiteral) num = true;
      else if (t.isIntersection() && t.types.some((x) => x.flags & ts.TypeFlags.String))
        stringAny = true; // OtherString = string & Record<never, never>: an open enum
      else others.push(t);
    }
    const alts: ParamSpec[] = [];
    if (literals.length > 0) alts.push({ kind: 'enum', values: [...new Set(literals)].sort() });
    else if (stringAny) alts.push({ kind: 'string' });
    if (num) alts.push(isFloatDoc(doc) ? { kind: 'number' } : { kind: 'integer' });
    if (bool) alts.push({ kind: 'boolean' });
    const objects: ParamSpec[] = [];
    for (const t of others) {
      const s = this.objectLike(t, doc, where, depth);
      if (s.kind === 'object') objects.push(s);
      else alts.push(s);
    }
    if (objects.length === 1 && objects[0]) alts.push(objects[0]);
    else if (objects.length > 1) alts.push(mergeObjects(objects));
    let out: ParamSpec;
    if (alts.length === 0) {
      this.problems.push(`${where}: no usable type (${this.checker.typeToString(type)})`);
      out = { kind: 'string' };
    } else if (alts.length === 1 && alts[0]) out = alts[0];
    else out = { kind: 'union', anyOf: alts };
    return emptyable ? { ...out, emptyable: true } : out;
  }

  private objectLike(t: ts.Type, doc: string, where: string, depth: number): ParamSpec {
    const name = (t.aliasSymbol ?? t.getSymbol())?.getName();
    if (name === 'Decimal') return { kind: 'decimal' };
    if (name === 'MetadataParam') return { kind: 'metadata' };
    if (this.checker.isArrayType(t)) {
      const [item] = this.checker.getTypeArguments(t as ts.TypeReference);
      if (!item) return { kind: 'array', items: { kind: 'string' } };
      return { kind: 'array', items: this.spec(item, doc, `${where}[]`, depth + 1) };
    }
    const index = this.checker.getIndexInfoOfType(t, ts.IndexKind.String);
    const props = this.checker.getPropertiesOfType(t);
    if (index && props.length === 0)
      return { kind: 'map', values: this.spec(index.type, doc, `${where}[*]`, depth + 1) };
    if (t.flags & ts.TypeFlags.Object) {
      const fields: Record<string, ParamSpec> = {};
      for (const p of props) {
        const pt = this.checker.getTypeOfSymbol(p);
        let s = this.spec(pt, this.docOf(p), `${where}[${p.getName()}]`, depth + 1);
        if (!(p.flags & ts.SymbolFlags.Optional)) s = { ...s, required: true };
        fields[p.getName()] = s;
      }
      return { kind: 'object', fields: sortKeys(fields) };
    }
    this.problems.push(`${where}: unsupported type ${this.checker.typeToString(t)}`);
    return { kind: 'string' };
  }

  params(t: ts.Type, where: string): Record<string, ParamSpec> {
    const s = this.objectLike(t, '', where, 0);
    if (s.kind !== 'object') {
      this.problems.push(`${where}: params type is not an object`);
      return {};
    }
    return { ...s.fields };
  }
}

function mergeObjects(objects: ParamSpec[]): ParamSpec {
  const fields: Record<string, ParamSpec> = {};
  const counts = new Map<string, number>();
  for (const o of objects) {
    if (o.kind !== 'object') continue;
    for (const [k, v] of Object.entries(o.fields)) {
      counts.set(k, (counts.get(k) ?? 0) + 1);
      fields[k] ??= v;
    }
  }
  for (const [k, v] of Object.entries(fields)) {
    if ((counts.get(k) ?? 0) < objects.length && v.required) {
      const { required: _r, ...rest } = v;
      fields[k] = rest;
    }
  }
  return { kind: 'object', fields: sortKeys(fields) };
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function findClassMethod(sf: ts.SourceFile, className: string, method: string): ts.MethodDeclaration[] {
  const out: ts.MethodDeclaration[] = [];
  for (const stmt of sf.statements) {
    if (!ts.isClassDeclaration(stmt) || stmt.name?.text !== className) continue;
    for (const m of stmt.members)
      if (ts.isMethodDeclaration(m) && ts.isIdentifier(m.name) && m.name.text === method) out.push(m);
  }
  return out;
}

function findDeclaration(sf: ts.SourceFile, name: string): ts.InterfaceDeclaration | ts.TypeAliasDeclaration {
  for (const stmt of sf.statements)
    if ((ts.isInterfaceDeclaration(stmt) || ts.isTypeAliasDeclaration(stmt)) && stmt.name.text === name)
      return stmt;
  throw new Error(`${sf.fileName}: no interface or type ${name}`);
}

/** A compact description of a response field's type: `string`, `number|null`, `string|object|null`, … */
function fieldType(checker: ts.TypeChecker, t: ts.Type): string {
  const kinds = new Set<string>();
  for (const m of t.isUnion() ? t.types : [t]) {
    const f = m.flags;
    if (f & ts.TypeFlags.Null) kinds.add('null');
    else if (f & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)) continue;
    else if (f & (ts.TypeFlags.String | ts.TypeFlags.StringLiteral)) kinds.add('string');
    else if (m.isIntersection() && m.types.some((x) => x.flags & ts.TypeFlags.String)) kinds.add('string');
    else if (f & (ts.TypeFlags.Number | ts.TypeFlags.NumberLiteral)) kinds.add('number');
    else if (f & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) kinds.add('boolean');
    else if (checker.isArrayType(m)) kinds.add('array');
    else if ((m.aliasSymbol ?? m.getSymbol())?.getName() === 'Decimal') kinds.add('string');
    else kinds.add('object');
  }
  const order = ['string', 'number', 'boolean', 'array', 'object', 'null'];
  return [...kinds].sort((a, b) => order.indexOf(a) - order.indexOf(b)).join('|');
}

const HEADER = (what: string): string =>
  `// Generated by src/emulators/stripe/spec/generate.ts from ${what}. Do not edit: run \`npm run emulator:spec\`.\n`;

async function format(source: string, file: string): Promise<string> {
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(source, { ...options, filepath: file });
}

function sdkVersion(): { sdk: string; api: string } {
  const pkg = JSON.parse(readFileSync(join(SDK_ROOT, 'package.json'), 'utf8')) as { version: string };
  const api = readFileSync(join(SDK_ROOT, 'esm', 'apiVersion.js'), 'utf8').match(
    /ApiVersion\s*=\s*'([^']+)'/,
  );
  return { sdk: pkg.version, api: api?.[1] ?? 'unknown' };
}

/** Runs the whole derivation in memory. */
export async function generate(): Promise<Generated> {
  const routes = emulatorRoutes();
  const endpoints = sdkEndpoints();
  const dtsFiles = new Set<string>();
  const plan: { route: string; ep: SdkEndpoint; dts: string }[] = [];
  const unmatched: string[] = [];
  for (const route of routes) {
    const candidates = endpoints.get(normalizeRoute(route)) ?? [];
    const ep = candidates[0];
    if (!ep) {
      unmatched.push(route);
      continue;
    }
    const dts = ep.jsFile.replace(/\.js$/, '.d.ts');
    dtsFiles.add(dts);
    plan.push({ route, ep, dts });
  }
  for (const [file] of OBJECTS) dtsFiles.add(join(SDK_RESOURCES, file));

  const program = ts.createProgram([...dtsFiles], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  });
  const checker = program.getTypeChecker();
  const walker = new Walker(checker);
  const { sdk, api } = sdkVersion();

  const entries: Record<string, { sdk: string; type: string; params: Record<string, ParamSpec> }> = {};
  for (const { route, ep, dts } of plan) {
    const sf = program.getSourceFile(dts);
    if (!sf) throw new Error(`cannot load ${dts}`);
    const decls = findClassMethod(sf, ep.className, ep.method);
    let paramsType: ts.Type | null = null;
    let typeName = '{}';
    for (const d of decls) {
      const p = d.parameters.find((x) => ts.isIdentifier(x.name) && x.name.text === 'params');
      if (!p?.type) continue;
      paramsType = checker.getTypeFromTypeNode(p.type);
      typeName = p.type.getText(sf);
      break;
    }
    entries[route] = {
      sdk: sdkName(ep.jsFile, ep.method),
      type: typeName,
      params: paramsType ? sortKeys(walker.params(paramsType, route)) : {},
    };
  }
  if (walker.problems.length > 0)
    throw new Error(`cannot derive parameter tables:\n${walker.problems.join('\n')}`);

  const objects: Record<string, { fields: string[]; optional: string[]; types: Record<string, string> }> = {};
  for (const [file, name] of OBJECTS) {
    const sf = program.getSourceFile(join(SDK_RESOURCES, file));
    if (!sf) throw new Error(`cannot load ${file}`);
    const decl = findDeclaration(sf, name);
    const type = checker.getTypeAtLocation(decl.name);
    const props = checker.getPropertiesOfType(type);
    const objectProp = props.find((p) => p.getName() === 'object');
    const objectType = objectProp ? checker.getTypeOfSymbol(objectProp) : null;
    if (!objectType?.isStringLiteral()) throw new Error(`${file} ${name}: no literal 'object' field`);
    const fields: string[] = [];
    const optional: string[] = [];
    const types: Record<string, string> = {};
    for (const p of props) {
      const t = checker.getTypeOfSymbol(p);
      const ft = fieldType(checker, t);
      if (ft === '') continue; // `deleted?: void`: present only on deleted objects
      fields.push(p.getName());
      if (p.flags & ts.SymbolFlags.Optional) optional.push(p.getName());
      types[p.getName()] = ft;
    }
    objects[objectType.value] = { fields: fields.sort(), optional: optional.sort(), types: sortKeys(types) };
  }

  const source = `stripe@${sdk} (API version ${api})`;
  const paramsTs =
    HEADER(`the typings of ${source}`) +
    `import type { EndpointSpec } from './types.js';\n\n` +
    `export const STRIPE_SDK_VERSION = ${JSON.stringify(sdk)};\n` +
    `export const STRIPE_API_VERSION = ${JSON.stringify(api)};\n\n` +
    `/** Parameters of every endpoint the emulator serves, keyed by \`METHOD /v1/path/:id\` as the emulator registers it. */\n` +
    `export const ENDPOINTS: Readonly<Record<string, EndpointSpec>> = ${JSON.stringify(entries)};\n`;
  const fieldsOnly = Object.fromEntries(Object.entries(objects).map(([k, v]) => [k, v.fields]));
  const optionalOnly = Object.fromEntries(Object.entries(objects).map(([k, v]) => [k, v.optional]));
  const typesOnly = Object.fromEntries(Object.entries(objects).map(([k, v]) => [k, v.types]));
  const objectsTs =
    HEADER(`the typings of ${source}`) +
    `\n/** Top-level fields of each object the emulator returns, keyed by its \`object\` value. */\n` +
    `export const OBJECT_FIELDS: Record<string, readonly string[]> = ${JSON.stringify(fieldsOnly)};\n\n` +
    `/** The fields the SDK marks optional (present only in some cases, e.g. \`line_items\` when expanded). */\n` +
    `export const OBJECT_OPTIONAL_FIELDS: Record<string, readonly string[]> = ${JSON.stringify(optionalOnly)};\n\n` +
    `/**\n * Each field's type, as \`|\`-joined kinds: string, number, boolean, array, object, null (an expandable id is\n * \`string|object\`; enums are \`string\`).\n */\n` +
    `export const OBJECT_FIELD_TYPES: Record<string, Readonly<Record<string, string>>> = ${JSON.stringify(typesOnly)};\n`;

  let docs: string | null = null;
  const current = readFileSync(DOCS_FILE, 'utf8');
  const begin = current.indexOf(SUPPORT_DOC_BEGIN);
  const end = current.indexOf(SUPPORT_DOC_END);
  if (begin >= 0 && end > begin) {
    const section = `${SUPPORT_DOC_BEGIN}\n\n${renderSupportMarkdown(entries)}\n${SUPPORT_DOC_END}`;
    docs = await format(
      current.slice(0, begin) + section + current.slice(end + SUPPORT_DOC_END.length),
      DOCS_FILE,
    );
  }

  return {
    params: await format(paramsTs, PARAMS_FILE),
    objects: await format(objectsTs, OBJECTS_FILE),
    docs,
    unmatched,
  };
}

async function main(): Promise<void> {
  const out = await generate();
  if (out.unmatched.length > 0)
    throw new Error(`emulator routes with no endpoint in the SDK: ${out.unmatched.join(', ')}`);
  writeFileSync(PARAMS_FILE, out.params);
  writeFileSync(OBJECTS_FILE, out.objects);
  if (out.docs === null)
    throw new Error(`docs/emulator.md has no ${SUPPORT_DOC_BEGIN} … ${SUPPORT_DOC_END} markers`);
  writeFileSync(DOCS_FILE, out.docs);
  process.stdout.write(
    `wrote ${relative(REPO_ROOT, PARAMS_FILE)}, ${relative(REPO_ROOT, OBJECTS_FILE)} and the Parameters section of docs/emulator.md\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
