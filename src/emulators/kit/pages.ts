import type { FastifyReply } from 'fastify';
import { esc } from '../../util/html.js';

/**
 * Hosted-page helpers shared by the emulators' checkout, approval, consent and onboarding pages: one HTML shell,
 * escaping (every interpolated value goes through `esc`), forms that post back to the emulator, and replies.
 * Read posted fields with `formFields(req)` from server.ts.
 */
export { esc };

export interface PageShell {
  title: string;
  /** Inner HTML of `<body>` (already escaped where it interpolates values). */
  body: string;
  /** A style sheet for the page. */
  css?: string;
  /** A banner shown above the body, e.g. "Settle PayPal emulator — sandbox" (escaped here). */
  banner?: string;
  lang?: string;
}

export const DEFAULT_CSS = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}
table{width:100%;border-collapse:collapse}td{padding:.3rem 0}td.r{text-align:right}
.error{color:#b00020;background:#fde8ea;padding:.6rem;border-radius:4px}
label{display:block;margin:.6rem 0 .2rem}input[type=text]{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.6rem 1.2rem;border:0;border-radius:4px}
.badge{font-size:.75rem;background:#fff3cd;padding:.1rem .4rem;border-radius:3px}`;

/** A complete HTML document. */
export function htmlPage(shell: PageShell): string {
  return `<!doctype html>
<html lang="${esc(shell.lang ?? 'en')}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(shell.title)}</title>
<style>
${shell.css ?? DEFAULT_CSS}
</style></head><body>
${shell.banner !== undefined ? `<p class="badge">${esc(shell.banner)}</p>\n` : ''}${shell.body}
</body></html>`;
}

/** A page with a heading and an error message. */
export function messageBody(title: string, message: string): string {
  return `<h1>${esc(title)}</h1><p class="error" role="alert">${esc(message)}</p>`;
}

export interface PostFormOptions {
  /** Where the form posts (a path on the emulator). */
  action: string;
  /** Hidden fields (escaped). */
  hidden?: Record<string, string>;
  /** Inner HTML of the form (inputs), placed before the buttons. */
  fields?: string;
  /** Submit buttons: `name=value` pairs let one form carry several outcomes (approve / cancel). */
  buttons: Array<{ label: string; name?: string; value?: string; testId?: string }>;
  testId?: string;
}

/** A `<form method="post">` back to the emulator, e.g. an approval page's approve and cancel buttons. */
export function postForm(o: PostFormOptions): string {
  const hidden = Object.entries(o.hidden ?? {})
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('\n  ');
  const buttons = o.buttons
    .map(
      (b) =>
        `<button type="submit"${b.name !== undefined ? ` name="${esc(b.name)}" value="${esc(b.value ?? '')}"` : ''}${
          b.testId !== undefined ? ` data-testid="${esc(b.testId)}"` : ''
        }>${esc(b.label)}</button>`,
    )
    .join('\n  ');
  return `<form method="post" action="${esc(o.action)}"${o.testId !== undefined ? ` data-testid="${esc(o.testId)}"` : ''}>
  ${hidden}${hidden ? '\n  ' : ''}${o.fields ?? ''}${o.fields ? '\n  ' : ''}${buttons}
</form>`;
}

export function sendHtml(reply: FastifyReply, status: number, page: string): FastifyReply {
  return reply.code(status).header('content-type', 'text/html; charset=utf-8').send(page);
}

/** A redirect after a form post (303 See Other by default, so the browser follows with GET). */
export function redirect(
  reply: FastifyReply,
  location: string,
  status: 301 | 302 | 303 | 307 = 303,
): FastifyReply {
  return reply.redirect(location, status);
}

/** `base` with query parameters added (e.g. a return URL with `token` and `PayerID`). */
export function withQuery(base: string, params: Record<string, string>): string {
  const u = new URL(base);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}
