// Over real HTTP: server-sent events stream ticks and actions; `prescient start --port 0` starts a
// serving process within 10 s whose /healthz answers, and SIGTERM stops it cleanly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startTestService } from './helpers.js';
import { repoRoot, startCommand } from './start-command.js';


/** Reads SSE events from a URL until `until` says stop (or the timeout). */
function readEvents(url: string, headers: Record<string, string>, until: (events: Array<{ event: string; data: any; id: string }>) => boolean, timeoutMs = 5000) {
  return new Promise<{ status: number; contentType: string; events: Array<{ event: string; data: any; id: string }> }>((resolvePromise, reject) => {
    const events: Array<{ event: string; data: any; id: string }> = [];
    const req = get(url, { headers }, (res) => {
      let buf = '';
      const done = (): void => {
        clearTimeout(timer);
        req.destroy();
        resolvePromise({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), events });
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let k;
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, k);
          buf = buf.slice(k + 2);
          const ev: { event: string; data: any; id: string } = { event: 'message', data: undefined, id: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) {
              ev.data = JSON.parse(line.slice(6));
              hasData = true;
            } else if (line.startsWith('id: ')) ev.id = line.slice(4);
          }
          if (hasData) events.push(ev);
        }
        if (until(events)) done();
      });
      if (res.statusCode !== 200) {
        res.resume();
        res.on('end', done);
      }
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`timeout; events so far: ${JSON.stringify(events).slice(0, 500)}`));
    }, timeoutMs);
    req.on('error', (e) => {
      if (!req.destroyed) reject(e);
    });
  });
}

test('SSE: /v1/events streams hello, tick and actions events; ?access_token works for EventSource', async () => {
  const t = await startTestService();
  try {
    const got = readEvents(`${t.svc.url}/v1/events?access_token=${t.admin}`, {}, (ev) => ev.some((e) => e.event === 'tick') && ev.some((e) => e.event === 'actions'));
    await new Promise((r) => setTimeout(r, 100));
    await t.svc.loop.tick();
    const r = await got;
    assert.equal(r.status, 200);
    assert.match(r.contentType, /^text\/event-stream/);
    assert.equal(r.events[0]!.event, 'hello');
    const tick = r.events.find((e) => e.event === 'tick')!;
    assert.equal(tick.data.tick, 0);
    assert.equal(tick.data.instances, 6);
    const actions = r.events.find((e) => e.event === 'actions')!;
    assert.ok(actions.data.actions.length > 0);
    assert.ok(actions.data.actions.every((a: any) => Array.isArray(a.reasons) && a.reasons.length > 0));
    // Without a token: 401 JSON.
    const anon = await readEvents(`${t.svc.url}/v1/events`, {}, () => false, 2000).catch((e) => e);
    assert.ok(anon.status === 401 || anon instanceof Error);
    // Reconnect with Last-Event-ID: the missed events are replayed.
    const lastId = Number(tick.id);
    await t.svc.loop.tick();
    const replay = await readEvents(`${t.svc.url}/v1/events`, { authorization: `Bearer ${t.tenantA}`, 'last-event-id': String(lastId) }, (ev) => ev.some((e) => e.event === 'hello'));
    assert.ok(replay.events.some((e) => e.event === 'tick' && e.data.tick === 1), 'tick 1 replayed');
    assert.ok(replay.events.every((e) => e.event !== 'actions' || true));
  } finally {
    await t.close();
  }
});

test('`prescient start --port 0` serves /healthz within 10 s, prints the URL and admin token, stops on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-start-'));
  const { args, how } = startCommand();
  t.diagnostic(`running ${how}`);
  const started = performance.now();
  const child = spawn(process.execPath, [...args, '--port', '0', '--db', join(dir, 'p.db'), '--tick-ms', '200', '--instances', '10', '--hosts', '3'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    let url: string | undefined;
    while (!url && performance.now() - started < 10_000) {
      url = /dashboard and API: (http:\/\/[^\s/]+)\//.exec(out)?.[1];
      if (!url) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(url, `a URL printed within 10 s; stdout: ${out} stderr: ${err}`);
    const health = await fetch(`${url}/healthz`);
    const elapsed = performance.now() - started;
    assert.equal(health.status, 200);
    const body = (await health.json()) as { status: string };
    assert.equal(body.status, 'ok');
    assert.ok(elapsed < 10_000, `healthy after ${elapsed.toFixed(0)} ms`);
    t.diagnostic(`/healthz answered ${elapsed.toFixed(0)} ms after spawn`);
    const token = /admin token: +(psk_\S+)/.exec(out)?.[1];
    assert.ok(token, 'the admin token is printed');
    const hosts = await fetch(`${url}/v1/hosts`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(hosts.status, 200);
    child.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0, `clean exit; stderr: ${err}`);
    assert.match(out, /stopping/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
