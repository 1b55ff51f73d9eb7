import { describe, expect, it } from 'vitest';
import { Clock, Tasks, ambientNow } from '../../../src/emulators/kit/index.js';
import { call, startFake } from './fake-provider.js';

describe('Clock', () => {
  it('manual: time moves only with advance(), which runs what became due in due order', () => {
    const clock = new Clock({ mode: 'manual', startMs: 1_000_000 });
    const ran: string[] = [];
    clock.setTimeout(() => ran.push('b@300'), 300);
    clock.setTimeout(() => ran.push('a@100'), 100);
    clock.setTimeout(() => ran.push('c@100'), 100);
    const cancelled = clock.setTimeout(() => ran.push('never'), 50);
    cancelled.cancel();
    clock.setTimeout(() => {
      ran.push(`d@${clock.now() - 1_000_000}`);
      // Scheduled from a callback, due within the same advance: runs in it too.
      clock.setTimeout(() => ran.push('e@250'), 50);
    }, 200);
    expect(clock.now()).toBe(1_000_000);
    expect(clock.advance(99).scheduled).toBe(4);
    expect(ran).toEqual([]);
    const seen: number[] = [];
    clock.onAdvance((now) => seen.push(now));
    const state = clock.advance(201);
    expect(ran).toEqual(['a@100', 'c@100', 'd@200', 'e@250', 'b@300']);
    expect(state).toMatchObject({
      now: 1_000_300,
      nowSeconds: 1000,
      advancedMs: 300,
      mode: 'manual',
      scheduled: 0,
    });
    expect(seen).toEqual([1_000_300]);
  });

  it('manual: a callback due exactly now runs; errors go to onError and do not stop the others', () => {
    const errors: unknown[] = [];
    const clock = new Clock({ mode: 'manual', startMs: 0, onError: (e) => errors.push(e) });
    const ran: number[] = [];
    clock.setTimeout(() => {
      throw new Error('x');
    }, 10);
    clock.setTimeout(() => ran.push(10), 10);
    clock.advance(10);
    expect(ran).toEqual([10]);
    expect(errors).toHaveLength(1);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(Number.NaN)).toThrow(RangeError);
  });

  it('time scale multiplies internal delays only', () => {
    const clock = new Clock({ mode: 'manual', startMs: 0, timeScale: 0.01 });
    expect(clock.scaled(24 * 3600_000)).toBe(864_000);
    expect(clock.scaled(-5)).toBe(0);
    clock.advance(1000);
    expect(clock.now()).toBe(1000);
    expect(() => new Clock({ timeScale: -1 })).toThrow(RangeError);
  });

  it('system: now() is the system time plus what was advanced; advancing runs real timers early', async () => {
    const clock = new Clock();
    const before = Date.now();
    expect(Math.abs(clock.now() - before)).toBeLessThan(50);
    let fired = 0;
    clock.setTimeout(() => fired++, 60_000);
    clock.advance(60_000);
    expect(fired).toBe(1);
    expect(clock.now() - Date.now()).toBeGreaterThanOrEqual(59_950);
    let soon = 0;
    const start = Date.now();
    clock.setTimeout(() => (soon = Date.now() - start), 400);
    clock.advance(300); // the 400 ms timer now has ~100 ms of real time left
    expect(soon).toBe(0);
    await new Promise((r) => setTimeout(r, 250));
    expect(soon).toBeGreaterThan(0);
    expect(soon).toBeLessThan(250);
    clock.close();
  });

  it('run() makes the clock ambient across async work; outside it ambientNow() is the system time', async () => {
    const clock = new Clock({ mode: 'manual', startMs: 5_000 });
    expect(Math.abs(ambientNow() - Date.now())).toBeLessThan(50);
    const seen = await clock.run(async () => {
      await new Promise((r) => setTimeout(r, 1));
      return [ambientNow(), Clock.current() === clock];
    });
    expect(seen).toEqual([5_000, true]);
    // Callbacks run with their clock ambient.
    let inside = 0;
    clock.setTimeout(() => (inside = ambientNow()), 10);
    clock.advance(10);
    expect(inside).toBe(5_010);
  });

  it('close() cancels everything scheduled', () => {
    const clock = new Clock({ mode: 'manual', startMs: 0 });
    let n = 0;
    clock.setTimeout(() => n++, 1);
    clock.close();
    clock.setTimeout(() => n++, 1);
    clock.advance(10);
    expect(n).toBe(0);
  });
});

describe('Tasks', () => {
  it('counts scheduled work for idle(); advancing the clock runs it', async () => {
    const clock = new Clock({ mode: 'manual', startMs: 0 });
    const tasks = new Tasks(clock, () => undefined, 'acme emulator');
    let done = false;
    tasks.later(2000, async () => {
      await new Promise((r) => setTimeout(r, 5));
      done = true;
    });
    expect(tasks.pending).toBe(1);
    await expect(tasks.idle(30)).rejects.toThrow(/acme emulator: still 1 job\(s\) pending after 30 ms/);
    const idle = tasks.idle(1000);
    clock.advance(2000);
    await idle;
    expect(done).toBe(true);
    expect(tasks.pending).toBe(0);

    const t = tasks.later(10, () => undefined);
    const release = tasks.hold();
    expect(tasks.pending).toBe(2);
    t.cancel();
    release();
    release();
    expect(tasks.pending).toBe(0);
  });

  it('a failing job is reported and still released', async () => {
    const clock = new Clock({ mode: 'manual', startMs: 0 });
    const errors: unknown[] = [];
    const tasks = new Tasks(clock, (e) => errors.push(e));
    tasks.later(1, () => {
      throw new Error('job failed');
    });
    clock.advance(1);
    await tasks.idle(1000);
    expect(errors).toHaveLength(1);
  });
});

describe('the clock in an emulator', () => {
  it('handlers and hosted pages run on the emulator clock: timestamps follow POST /_emulator/clock', async () => {
    const fake = await startFake({ clock: { mode: 'manual', startMs: Date.UTC(2030, 0, 1) } });
    try {
      const a = await call(fake, 'POST', '/v2/things', { name: 'a' });
      expect((a.body.thing as { created_at: string }).created_at).toBe('2030-01-01T00:00:00.000Z');
      await call(fake, 'POST', '/_emulator/clock', { advanceMs: 86_400_000 });
      const b = await call(fake, 'POST', '/v2/things', { name: 'b' });
      expect((b.body.thing as { created: number }).created).toBe(Date.UTC(2030, 0, 2) / 1000);
      expect(fake.server.requests.at(-1)?.at).toBe(Date.UTC(2030, 0, 2));

      const id = (b.body.thing as { id: string }).id;
      const page = await fetch(`${fake.url}/pay/${id}`);
      expect(page.status).toBe(200);
      const posted = await fetch(`${fake.url}/pay/${id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'choice=approve&thing=x',
        redirect: 'manual',
      });
      expect(posted.status).toBe(303);
      expect(posted.headers.get('location')).toBe(
        `http://shop.test/return?choice=approve&at=${Date.UTC(2030, 0, 2) / 1000}`,
      );
    } finally {
      await fake.close();
    }
  });
});
