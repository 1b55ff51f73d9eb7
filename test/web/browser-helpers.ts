/**
 * What every browser test shares: Debian's Chromium driven by playwright-core (launched as the project's guide
 * says), pages that record script and console errors, and the return page's final state.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
/** Where screenshots go. */
export const SHOTS = 'test-results';
/** Browser suites skip without Chromium, except in CI (where its absence is a failure). */
export const skipWithoutChromium = !existsSync(CHROMIUM) && !process.env['CI'];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A fresh page that records any script error and console error (expected 4xx answers aside). */
export async function newPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Expected 4xx answers (e.g. a wrong operator token) are logged by Chromium as failed resources.
    if (msg.type() === 'error' && !/status of 4\d\d/.test(msg.text()))
      problems.push(`console: ${msg.text()}`);
  });
  return { page, problems };
}

/** The order id on Settle's return page. */
export function orderOf(page: Page): string {
  const id = new URL(page.url()).searchParams.get('order');
  if (!id) throw new Error(`no order in ${page.url()}`);
  return id;
}

/** Waits for the return page to show one of these states; the error names the state it did show. */
export async function finalState(page: Page, ...states: string[]): Promise<string> {
  const selector = states.map((s) => `#confirm[data-state="${s}"]`).join(', ');
  try {
    await page.locator(selector).waitFor({ timeout: 20_000 });
  } catch (err) {
    const shown = await page
      .locator('#confirm')
      .getAttribute('data-state')
      .catch(() => null);
    throw new Error(`expected state ${states.join('|')}, page shows ${String(shown)} at ${page.url()}`, {
      cause: err,
    });
  }
  return (await page.locator('#confirm').getAttribute('data-state')) ?? '';
}
