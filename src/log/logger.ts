import { pino, type Logger } from 'pino';

/**
 * Paths redacted from every log line. Secrets (API keys, webhook secrets, admin token), signatures,
 * authorization headers, e-mail addresses and raw provider payloads never reach the log sink.
 */
export const REDACT_PATHS: string[] = [
  'req.headers.authorization',
  'req.headers["stripe-signature"]',
  'req.headers["x-square-hmacsha256-signature"]',
  'req.headers["paypal-transmission-sig"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["stripe-signature"]',
  '*.secret',
  '*.secretKey',
  '*.apiKey',
  '*.token',
  '*.password',
  '*.email',
  '*.customer_email',
  '*.card_number',
  'payload',
  'rawBody',
  'body',
];

export type { Logger };

/** Creates the structured, redacted logger. `level` comes from configuration (LOG_LEVEL). */
export function createLogger(level: string = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'settle' },
    },
    destination,
  );
}

/** A logger that discards everything; the default in tests unless LOG_LEVEL is set. */
export const silentLogger: Logger = pino({ level: 'silent' });
