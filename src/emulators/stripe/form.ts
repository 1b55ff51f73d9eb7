/**
 * Bracket-notation form decoding, as the Stripe SDK encodes request bodies and list queries:
 * `line_items[0][price_data][unit_amount]=1000&expand[]=payment_intent&metadata[order]=42`.
 * Numeric-indexed or empty-bracket keys become arrays; everything else becomes nested objects.
 * Values stay strings: each resource converts what it needs (see `num`, `bool` below).
 */
export type FormValue = string | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Splits `a[b][0][]` into `['a', 'b', '0', '']`. */
export function splitKey(key: string): string[] {
  const first = key.indexOf('[');
  if (first < 0) return [key];
  const parts = [key.slice(0, first)];
  const re = /\[([^\]]*)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(key.slice(first))) !== null) parts.push(m[1] ?? '');
  return parts;
}

type Mutable = { [key: string]: Mutable | string };

function toArrays(v: Mutable | string): FormValue {
  if (typeof v === 'string') return v;
  const keys = Object.keys(v);
  const converted: FormObject = {};
  for (const k of keys) converted[k] = toArrays(v[k] as Mutable | string);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k) || k.startsWith('\u0000'))) {
    return keys
      .map((k) => ({ k, n: k.startsWith('\u0000') ? Number(k.slice(1)) : Number(k) }))
      .sort((a, b) => a.n - b.n)
      .map(({ k }) => converted[k] as FormValue);
  }
  return converted;
}

/** Parses an `application/x-www-form-urlencoded` string (or a query string) into a nested object. */
export function parseForm(raw: string): FormObject {
  const root: Mutable = {};
  let pushCounter = 0;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    const parts = splitKey(key);
    let node: Mutable = root;
    for (let i = 0; i < parts.length; i++) {
      let part = parts[i] ?? '';
      if (part === '' && i > 0) part = `\u0000${pushCounter++}`; // `a[]=x` appends
      if (part === '__proto__' || part === 'constructor' || part === 'prototype') break;
      if (i === parts.length - 1) {
        node[part] = value;
      } else {
        const next = node[part];
        if (typeof next === 'object') {
          node = next;
        } else {
          const created: Mutable = {};
          node[part] = created;
          node = created;
        }
      }
    }
  }
  const out = toArrays(root);
  return typeof out === 'object' && !Array.isArray(out) ? out : {};
}

/** Reads a nested value (`get(form, 'payment_intent_data', 'transfer_data', 'destination')`). */
export function get(form: FormValue | undefined, ...path: (string | number)[]): FormValue | undefined {
  let cur: FormValue | undefined = form;
  for (const p of path) {
    if (cur === undefined || typeof cur === 'string') return undefined;
    cur = Array.isArray(cur) ? cur[Number(p)] : cur[String(p)];
  }
  return cur;
}

export function str(v: FormValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function obj(v: FormValue | undefined): FormObject | undefined {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

export function arr(v: FormValue | undefined): FormValue[] {
  if (Array.isArray(v)) return v;
  const o = obj(v);
  if (o) return Object.values(o);
  return v === undefined ? [] : [v];
}
