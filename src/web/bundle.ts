import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface Bundle {
  code: string;
  /** Short content hash, used as a cache-busting query (`/assets/app.js?v=…`). */
  hash: string;
}

export const CLIENT_ENTRY = fileURLToPath(new URL('./client/main.ts', import.meta.url));

/** Bundles the browser code in memory (no files written): one ESM file, es2022, minified with a source-free build. */
export async function buildClientBundle(opts: { minify?: boolean } = {}): Promise<Bundle> {
  const result = await build({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: opts.minify ?? true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output for the web client');
  const code = file.text;
  return { code, hash: createHash('sha256').update(code).digest('hex').slice(0, 12) };
}
