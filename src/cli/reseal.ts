import { print, printError } from './output.js';
import { loadConfig } from '../config/config.js';
import { resealGrants } from '../core/credentials.js';
import { openDatabase } from '../db/connect.js';

/**
 * `npm run reseal`: the encryption-key rotation step (docs/security.md). With the new key as SETTLE_ENCRYPTION_KEY
 * and the old one in SETTLE_ENCRYPTION_KEY_PREVIOUS, re-seals every stored seller token still sealed with an old
 * key. Safe to run while Settle runs and to run again; once it reports nothing left, remove the old key.
 */
try {
  const config = loadConfig();
  if (config.sealingKeys === null)
    throw new Error('SETTLE_ENCRYPTION_KEY is not set: nothing to re-seal with.');
  const opened = await openDatabase(config.database);
  try {
    const { resealed } = await resealGrants(opened.db, config.sealingKeys);
    print(
      `Re-sealed ${resealed} seller grant(s) under the current key (${opened.describe}). ` +
        'Run again until it reports 0, then SETTLE_ENCRYPTION_KEY_PREVIOUS can be removed.',
    );
  } finally {
    await opened.close();
  }
} catch (err) {
  printError(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
