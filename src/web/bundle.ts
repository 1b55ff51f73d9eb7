import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface Bundle {
  code: string;
  /** Short content hash, used as a cache-busting query (`/assets/app.js?v=…`). */
  hash: string;
}

export const CLIENT_ENTRY = fileURLToPath(new URL('./client/main.ts', import.meta.url));
const CSS_SOURCE = fileURLToPath(new URL('./assets/app.css', import.meta.url));
/**
 * The bundle written ahead of time by `npm run build` (dist/src/web/assets/app.js, next to the compiled module).
 * Never present under src/, so the development server and the tests bundle from source.
 */
const PREBUILT = new URL('./assets/app.js', import.meta.url);

function hashOf(code: string): string {
  return createHash('sha256').update(code).digest('hex').slice(0, 12);
}

async function readPrebuilt(): Promise<Bundle | null> {
  try {
    const code = await readFile(PREBUILT, 'utf8');
    return { code, hash: hashOf(code) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Bundles the browser code in memory with esbuild: one ESM file, es2022, minified with a source-free build. */
async function bundleFromSource(minify: boolean): Promise<Bundle> {
  // Imported here, not at the top: the compiled server (`node dist/src/main.js`) never loads esbuild.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output for the web client');
  return { code: file.text, hash: hashOf(file.text) };
}

/**
 * The browser bundle: the prebuilt file when the server runs compiled (`npm run build`), otherwise bundled from
 * source in memory (`npm run dev`, tests). `minify: false` always bundles from source.
 */
export async function buildClientBundle(opts: { minify?: boolean } = {}): Promise<Bundle> {
  const minify = opts.minify ?? true;
  if (minify) {
    const prebuilt = await readPrebuilt();
    if (prebuilt !== null) return prebuilt;
  }
  return bundleFromSource(minify);
}

/** `npm run build`'s asset step: writes app.js (bundled from source) and app.css into `outDir`. */
export async function writeClientAssets(outDir: string): Promise<{ js: string; css: string }> {
  const bundle = await bundleFromSource(true);
  await mkdir(outDir, { recursive: true });
  const js = join(outDir, 'app.js');
  const css = join(outDir, 'app.css');
  await writeFile(js, bundle.code);
  await copyFile(CSS_SOURCE, css);
  return { js, css };
}

// `tsx src/web/bundle.ts <outDir>` (run by `npm run build` with dist/src/web/assets).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outDir = process.argv[2];
  if (outDir === undefined) throw new Error('usage: tsx src/web/bundle.ts <outDir>');
  if (resolve(outDir) === fileURLToPath(new URL('./assets', import.meta.url))) {
    throw new Error(
      'refusing to write the bundle into src/web/assets: the server would stop bundling from source',
    );
  }
  const written = await writeClientAssets(outDir);
  process.stdout.write(`web assets: ${written.js}, ${written.css}\n`);
}
