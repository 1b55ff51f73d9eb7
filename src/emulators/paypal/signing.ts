import {
  X509Certificate,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * PayPal's webhook signature (https://developer.paypal.com/api/rest/webhooks/rest/): RSA-SHA256 (`SHA256withRSA`)
 * over `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the raw body, unsigned decimal>`, base64 in
 * `PAYPAL-TRANSMISSION-SIG`, verifiable with the X.509 certificate at `PAYPAL-CERT-URL`.
 *
 * The emulator makes a fresh RSA key and a self-signed certificate at every start (Node has no X.509 writer, so the
 * certificate's DER is assembled here), serves the certificate, and signs every delivery with the key. Nothing is
 * committed and nothing is reused across runs.
 */
export const AUTH_ALGO = 'SHA256withRSA';

export interface SigningKey {
  privateKey: KeyObject;
  /** PEM of the self-signed certificate (what `PAYPAL-CERT-URL` serves). */
  certPem: string;
  /** Path segment of the certificate URL, e.g. `CERT-360caa42-fca2a594-1d93a270` as PayPal names them. */
  certId: string;
}

// ---- a minimal DER writer (only what one certificate needs) ----

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);

function integer(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && ((b[1] ?? 0) & 0x80) === 0) b = b.subarray(1);
  if (((b[0] ?? 0) & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = parts;
  const out: number[] = [a * 40 + b];
  for (const p of rest) {
    const stack: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) stack.unshift((v & 0x7f) | 0x80);
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return y < 2050
    ? tlv(0x17, Buffer.from(`${String(y).slice(2)}${rest}`))
    : tlv(0x18, Buffer.from(`${y}${rest}`));
}

function name(commonName: string): Buffer {
  return seq(
    set(seq(oid('2.5.4.6'), tlv(0x13, Buffer.from('US')))),
    set(seq(oid('2.5.4.10'), tlv(0x0c, Buffer.from('Settle PayPal emulator (test key, not PayPal)')))),
    set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName)))),
  );
}

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';

/** A self-signed X.509 v3 certificate for `publicKey`, signed with `privateKey` (RSA, SHA-256). */
export function selfSignedCertificate(
  privateKey: KeyObject,
  publicKey: KeyObject,
  opts: { commonName: string; notBefore: Date; notAfter: Date },
): string {
  const algorithm = seq(oid(SHA256_WITH_RSA), nullValue());
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const subject = name(opts.commonName);
  const basicConstraints = seq(oid('2.5.29.19'), tlv(0x04, seq()));
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(randomBytes(16)),
    algorithm,
    subject,
    seq(time(opts.notBefore), time(opts.notAfter)),
    subject,
    spki,
    tlv(0xa3, seq(basicConstraints)),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`;
}

/** A fresh RSA-2048 key and its certificate, valid from a day before `now` for ten years. */
export function createSigningKey(now: number): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const hex = randomBytes(12).toString('hex');
  const certId = `CERT-${hex.slice(0, 8)}-${hex.slice(8, 16)}-${hex.slice(16, 24)}`;
  const certPem = selfSignedCertificate(privateKey, publicKey, {
    commonName: 'messageverificationcerts.sandbox.paypal.com (emulator)',
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 10 * 365 * 86_400_000),
  });
  return { privateKey, certPem, certId };
}

/** CRC32 of the bytes, as the unsigned decimal PayPal signs. */
export function crc32Decimal(body: Buffer | string): string {
  return String(crc32(typeof body === 'string' ? Buffer.from(body, 'utf8') : body) >>> 0);
}

export function signedMessage(
  transmissionId: string,
  transmissionTime: string,
  webhookId: string,
  body: Buffer | string,
): string {
  return `${transmissionId}|${transmissionTime}|${webhookId}|${crc32Decimal(body)}`;
}

export function signTransmission(
  key: KeyObject,
  transmissionId: string,
  transmissionTime: string,
  webhookId: string,
  body: Buffer | string,
): string {
  return sign(
    'sha256',
    Buffer.from(signedMessage(transmissionId, transmissionTime, webhookId, body)),
    key,
  ).toString('base64');
}

/** Verifies a transmission signature against a PEM certificate, as a receiver does offline. */
export function verifyTransmission(
  certPem: string,
  sigBase64: string,
  transmissionId: string,
  transmissionTime: string,
  webhookId: string,
  body: Buffer | string,
): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const key = createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' }));
    return verify(
      'sha256',
      Buffer.from(signedMessage(transmissionId, transmissionTime, webhookId, body)),
      key,
      Buffer.from(sigBase64, 'base64'),
    );
  } catch {
    return false;
  }
}

/**
 * The exact text of a top-level member's value in a JSON object text (e.g. `webhook_event` in a
 * verify-webhook-signature request), or null. PayPal checks the event bytes it signed, so the emulator hashes this
 * text as sent: an event re-serialised by the caller (other spacing, key order or number forms) no longer matches.
 */
export function rawMemberText(json: string, member: string): string | null {
  let i = 0;
  const ws = (): void => {
    while (i < json.length && ' \t\r\n'.includes(json[i] ?? '')) i++;
  };
  const skipString = (): string | null => {
    if (json[i] !== '"') return null;
    const start = i;
    i++;
    while (i < json.length) {
      const c = json[i];
      if (c === '\\') i += 2;
      else if (c === '"') {
        i++;
        try {
          return JSON.parse(json.slice(start, i)) as string;
        } catch {
          return null;
        }
      } else i++;
    }
    return null;
  };
  const skipValue = (): boolean => {
    ws();
    const c = json[i];
    if (c === '"') return skipString() !== null;
    if (c === '{' || c === '[') {
      let depth = 0;
      while (i < json.length) {
        const d = json[i];
        if (d === '"') {
          if (skipString() === null) return false;
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') {
          depth--;
          if (depth === 0) {
            i++;
            return true;
          }
        }
        i++;
      }
      return false;
    }
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(json.slice(i));
    if (!m) return false;
    i += m[0].length;
    return true;
  };
  ws();
  if (json[i] !== '{') return null;
  i++;
  for (;;) {
    ws();
    if (json[i] === '}') return null;
    const key = skipString();
    if (key === null) return null;
    ws();
    if (json[i] !== ':') return null;
    i++;
    ws();
    const start = i;
    if (!skipValue()) return null;
    if (key === member) return json.slice(start, i);
    ws();
    if (json[i] === ',') {
      i++;
      continue;
    }
    return null;
  }
}
