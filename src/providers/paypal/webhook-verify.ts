import { X509Certificate, verify as verifySignature, type KeyObject } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { SettleError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../log/logger.js';

/**
 * Offline verification of PayPal webhook deliveries (developer.paypal.com/api/rest/webhooks/rest, provider-facts
 * 9c). PayPal signs `transmission_id|transmission_time|webhook_id|crc32(raw body)` (the CRC as an unsigned
 * decimal) with RSA-SHA256; the signature is `PAYPAL-TRANSMISSION-SIG` (base64), the certificate is at
 * `PAYPAL-CERT-URL`, and `webhook_id` is the id of Settle's own subscription (PAYPAL_WEBHOOK_ID), never a value
 * from the request.
 *
 * The certificate is trusted because of where it comes from: an https URL on one of PayPal's API hosts
 * (`PAYPAL_CERT_HOSTS`), under `/v1/notifications/certs/`, fetched over TLS. A URL anywhere else is refused before
 * any request is made (no fetch to an attacker's host, no request to an internal address). In emulator mode
 * (PAYPAL_API_BASE) the emulator's own origin is added. Certificates are cached by URL and checked against their
 * validity dates at every use.
 *
 * Nothing is written before `verify` returns: the route records the event in the inbox only afterwards.
 */

/** PayPal's API hosts, the only places a webhook certificate is fetched from. */
export const PAYPAL_CERT_HOSTS: readonly string[] = [
  'api.paypal.com',
  'api-m.paypal.com',
  'api.sandbox.paypal.com',
  'api-m.sandbox.paypal.com',
];

/** The path PayPal serves webhook certificates under. */
export const PAYPAL_CERT_PATH_PREFIX = '/v1/notifications/certs/';

/**
 * How old a transmission may be. PayPal retries a failed delivery for up to 3 days; a replay within that window
 * is a duplicate the inbox recognises (events are kept at least 4 days, SETTLE_RETENTION_WEBHOOK_DAYS), and an
 * older one is refused here.
 */
export const WEBHOOK_MAX_AGE_SECONDS = 3 * 86_400 + 3_600;
/** Clock skew tolerated for a transmission time in the future. */
export const WEBHOOK_MAX_SKEW_SECONDS = 300;

const CERT_MAX_BYTES = 64 * 1024;
const CERT_FETCH_TIMEOUT_MS = 5_000;
const CERT_CACHE_MAX = 16;

/** Fetches a certificate's PEM text (tests inject their own to count fetches). */
export type CertFetcher = (url: URL) => Promise<string>;

export const fetchCertificate: CertFetcher = async (url) => {
  const res = await fetch(url, {
    redirect: 'error',
    signal: AbortSignal.timeout(CERT_FETCH_TIMEOUT_MS),
    headers: { accept: 'application/x-pem-file, text/plain, */*' },
  });
  if (!res.ok) throw new Error(`certificate fetch answered HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > CERT_MAX_BYTES) throw new Error('certificate too large');
  const text = await res.text();
  if (text.length > CERT_MAX_BYTES) throw new Error('certificate too large');
  return text;
};

export interface WebhookVerifierOptions {
  /** PAYPAL_WEBHOOK_ID (or the id the demo registered at its emulator); null refuses every delivery. */
  webhookId: string | null;
  /** Emulator mode: the emulator's origin (PAYPAL_API_BASE), whose certificates are accepted too. */
  emulatorOrigin: string | null;
  fetchCert?: CertFetcher;
  now?: () => Date;
  logger?: Logger;
}

interface CachedCert {
  key: KeyObject;
  validFrom: number;
  validTo: number;
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  let v = headers[name];
  if (v === undefined) for (const [k, val] of Object.entries(headers)) if (k.toLowerCase() === name) v = val;
  if (Array.isArray(v)) return undefined; // exactly one value, or the delivery is refused
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function refuse(reason: string): SettleError {
  return new SettleError('webhook_signature_invalid', `Invalid PayPal webhook signature: ${reason}`);
}

export class PayPalWebhookVerifier {
  private readonly webhookId: string | null;
  private readonly emulatorOrigin: string | null;
  private readonly fetchCert: CertFetcher;
  private readonly now: () => Date;
  private readonly log: Logger;
  private readonly certs = new Map<string, CachedCert>();
  private readonly inflight = new Map<string, Promise<CachedCert>>();

  constructor(opts: WebhookVerifierOptions) {
    this.webhookId = opts.webhookId;
    this.emulatorOrigin = opts.emulatorOrigin === null ? null : new URL(opts.emulatorOrigin).origin;
    this.fetchCert = opts.fetchCert ?? fetchCertificate;
    this.now = opts.now ?? (() => new Date());
    this.log = opts.logger ?? silentLogger;
  }

  /** The certificate URL if it is on the allow-list, else null (and nothing is fetched). */
  allowedCertUrl(raw: string): URL | null {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return null;
    }
    if (u.username !== '' || u.password !== '' || u.hash !== '') return null;
    if (!u.pathname.startsWith(PAYPAL_CERT_PATH_PREFIX) || u.pathname.includes('..')) return null;
    if (u.protocol === 'https:' && u.port === '' && PAYPAL_CERT_HOSTS.includes(u.hostname.toLowerCase()))
      return u;
    if (this.emulatorOrigin !== null && u.origin === this.emulatorOrigin) return u;
    return null;
  }

  /**
   * Verifies a delivery on its raw bytes. Throws `webhook_signature_invalid` (400) naming the reason; never
   * returns for a delivery that is not PayPal's, for this webhook, recently transmitted.
   */
  async verify(rawBody: Buffer, headers: Headers): Promise<void> {
    const transmissionId = header(headers, 'paypal-transmission-id');
    const transmissionTime = header(headers, 'paypal-transmission-time');
    const signature = header(headers, 'paypal-transmission-sig');
    const certUrl = header(headers, 'paypal-cert-url');
    const algo = header(headers, 'paypal-auth-algo');
    if (
      transmissionId === undefined ||
      transmissionTime === undefined ||
      signature === undefined ||
      certUrl === undefined
    )
      throw refuse(
        'missing or repeated PAYPAL-TRANSMISSION-ID, PAYPAL-TRANSMISSION-TIME, PAYPAL-TRANSMISSION-SIG or PAYPAL-CERT-URL header',
      );
    if (algo !== undefined && algo.toUpperCase() !== 'SHA256WITHRSA')
      throw refuse(`unsupported PAYPAL-AUTH-ALGO ${algo.slice(0, 40)} (SHA256withRSA expected)`);
    if (transmissionId.includes('|')) throw refuse('malformed PAYPAL-TRANSMISSION-ID');
    const sentAt = Date.parse(transmissionTime);
    if (Number.isNaN(sentAt) || transmissionTime.includes('|'))
      throw refuse('malformed PAYPAL-TRANSMISSION-TIME');
    const age = (this.now().getTime() - sentAt) / 1000;
    if (age > WEBHOOK_MAX_AGE_SECONDS) throw refuse('transmission time is too old');
    if (age < -WEBHOOK_MAX_SKEW_SECONDS) throw refuse('transmission time is in the future');
    const url = this.allowedCertUrl(certUrl);
    if (url === null) {
      this.log.warn({ certHost: hostOf(certUrl) }, 'paypal webhook certificate URL outside the allow-list');
      throw refuse(
        'PAYPAL-CERT-URL is not a PayPal certificate URL (allowed hosts: ' + this.allowedHosts() + ')',
      );
    }
    if (this.webhookId === null) throw refuse('no webhook id configured (PAYPAL_WEBHOOK_ID)');
    const cert = await this.certificate(url);
    const at = this.now().getTime();
    if (at < cert.validFrom || at > cert.validTo) throw refuse('the certificate is not valid now');
    const message = `${transmissionId}|${transmissionTime}|${this.webhookId}|${crc32(rawBody) >>> 0}`;
    let sig: Buffer;
    try {
      sig = Buffer.from(signature, 'base64');
    } catch {
      throw refuse('PAYPAL-TRANSMISSION-SIG is not base64');
    }
    const ok = sig.length > 0 && verifySignature('sha256', Buffer.from(message, 'utf8'), cert.key, sig);
    if (!ok)
      throw refuse('signature does not match (wrong webhook id, altered body, or not signed by PayPal)');
  }

  private allowedHosts(): string {
    return [
      ...PAYPAL_CERT_HOSTS,
      ...(this.emulatorOrigin !== null ? [new URL(this.emulatorOrigin).host] : []),
    ].join(', ');
  }

  private async certificate(url: URL): Promise<CachedCert> {
    const key = url.toString();
    const cached = this.certs.get(key);
    if (cached !== undefined) return cached;
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.load(url).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async load(url: URL): Promise<CachedCert> {
    let pem: string;
    try {
      pem = await this.fetchCert(url);
    } catch (err) {
      this.log.warn(
        { certHost: url.host, err: err instanceof Error ? err.message : String(err) },
        'paypal webhook certificate could not be fetched',
      );
      // Not a verdict on the delivery: PayPal retries it (503 from the route).
      throw new SettleError(
        'provider_unavailable',
        'The PayPal webhook certificate could not be fetched; retry later.',
      );
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      throw refuse('PAYPAL-CERT-URL did not serve an X.509 certificate');
    }
    const entry: CachedCert = {
      key: cert.publicKey,
      validFrom: cert.validFromDate.getTime(),
      validTo: cert.validToDate.getTime(),
    };
    if (this.certs.size >= CERT_CACHE_MAX) {
      const oldest = this.certs.keys().next().value;
      if (oldest !== undefined) this.certs.delete(oldest);
    }
    this.certs.set(url.toString(), entry);
    return entry;
  }
}

function hostOf(raw: string): string {
  try {
    return new URL(raw).host.slice(0, 100);
  } catch {
    return '(unparsable)';
  }
}
