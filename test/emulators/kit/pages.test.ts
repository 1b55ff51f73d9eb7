import { describe, expect, it } from 'vitest';
import { htmlPage, messageBody, postForm, withQuery } from '../../../src/emulators/kit/index.js';
import { startFake } from './fake-provider.js';

describe('hosted-page helpers', () => {
  it('the shell escapes the title and banner; bodies interpolate through esc', () => {
    const html = htmlPage({
      title: '<Pay> & "go"',
      banner: 'Acme <sandbox>',
      body: messageBody('Oops <x>', "it's <bad>"),
    });
    expect(html).toContain('<title>&lt;Pay&gt; &amp; &quot;go&quot;</title>');
    expect(html).toContain('<p class="badge">Acme &lt;sandbox&gt;</p>');
    expect(html).toContain('<h1>Oops &lt;x&gt;</h1><p class="error" role="alert">it&#39;s &lt;bad&gt;</p>');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(htmlPage({ title: 't', body: 'b' })).not.toContain('class="badge"');
  });

  it('postForm renders a form posting back, with escaped hidden fields and outcome buttons', () => {
    const form = postForm({
      action: '/approve/ORDER"1',
      hidden: { token: 'a"b' },
      fields: '<input name="x">',
      buttons: [
        { label: 'Approve', name: 'choice', value: 'approve', testId: 'approve' },
        { label: 'Cancel <now>' },
      ],
      testId: 'approval',
    });
    expect(form).toContain('<form method="post" action="/approve/ORDER&quot;1" data-testid="approval">');
    expect(form).toContain('<input type="hidden" name="token" value="a&quot;b">');
    expect(form).toContain('<input name="x">');
    expect(form).toContain(
      '<button type="submit" name="choice" value="approve" data-testid="approve">Approve</button>',
    );
    expect(form).toContain('<button type="submit">Cancel &lt;now&gt;</button>');
  });

  it('withQuery adds parameters to a return URL', () => {
    expect(withQuery('http://shop.test/return?order=1', { token: 'T 1', PayerID: 'P' })).toBe(
      'http://shop.test/return?order=1&token=T+1&PayerID=P',
    );
  });

  it('a page served by an emulator: GET renders, the form POST is read with formFields and redirects', async () => {
    const fake = await startFake();
    try {
      const res = await fetch(`${fake.url}/v2/things`, {
        method: 'POST',
        headers: { authorization: 'Bearer good', 'content-type': 'application/json' },
        body: JSON.stringify({ name: '<script>alert(1)</script>' }),
      });
      const { thing } = (await res.json()) as { thing: { id: string } };
      const page = await fetch(`${fake.url}/pay/${thing.id}`);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await page.text();
      expect(html).toContain('<title>Pay &lt;script&gt;alert(1)&lt;/script&gt;</title>');
      expect(html).toContain('data-testid="approve"');
      const post = await fetch(`${fake.url}/pay/${thing.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'choice=cancel',
        redirect: 'manual',
      });
      expect(post.status).toBe(303);
      expect(post.headers.get('location')).toMatch(/^http:\/\/shop\.test\/return\?choice=cancel&at=\d+$/);
      expect(fake.server.requests.some((r) => r.path.startsWith('/pay/'))).toBe(false);
    } finally {
      await fake.close();
    }
  });
});
