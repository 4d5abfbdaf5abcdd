// The dashboard end to end: a real `prescient start --port 0 --tick-ms 200` child process on a temp
// SQLite file, Debian's Chromium driven by playwright-core (never a downloaded browser). The page
// signs in from the `#token=` link that `prescient start` prints, shows the fleet with numbers,
// draws the forecast fan chart, lists actions with reasons, updates live from server-sent events
// (ticks, a bid submitted through the API), and reconnects after the server restarts.
// A screenshot is written to test-output/dashboard.png.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { repoRoot, startCommand } from '../server/start-command.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(repoRoot, 'test-output', 'dashboard.png');
// The fleet `npm start` embeds (8 hosts, 40 instances).
const HOSTS = 8;
const INSTANCES = 40;

interface Server {
  child: ChildProcessWithoutNullStreams;
  url: string;
  /** Printed at first start only. */
  token?: string;
  link?: string;
  output: () => string;
  stop: () => Promise<number | null>;
}

async function startServer(port: number, dbPath: string): Promise<Server> {
  const { args } = startCommand();
  const child = spawn(process.execPath, [...args, '--port', String(port), '--db', dbPath, '--tick-ms', '200', '--hosts', String(HOSTS), '--instances', String(INSTANCES)], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const t0 = Date.now();
  let url: string | undefined;
  while (!url && Date.now() - t0 < 20_000 && child.exitCode === null) {
    url = /dashboard and API: (http:\/\/[^\s/]+)\//.exec(out)?.[1];
    if (!url) await new Promise((r) => setTimeout(r, 50));
  }
  if (!url) {
    child.kill('SIGKILL');
    throw new Error(`prescient start printed no URL within 20 s; output:\n${out}`);
  }
  const token = /admin token: +(psk_\S+)/.exec(out)?.[1];
  const link = /dashboard link: +(\S+)/.exec(out)?.[1];
  return {
    child,
    url,
    ...(token ? { token } : {}),
    ...(link ? { link } : {}),
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Pixels of the chart canvas close to a colour, with their mean x. */
async function colourPixels(page: Page, rgb: [number, number, number]): Promise<{ count: number; meanX: number }> {
  return page.evaluate((target) => {
    const canvas = document.querySelector('#fan canvas') as HTMLCanvasElement | null;
    if (!canvas) return { count: 0, meanX: NaN };
    const ctx = canvas.getContext('2d')!;
    const { data, width, height } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    let sumX = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const k = (y * width + x) * 4;
        const d = Math.abs(data[k]! - target[0]) + Math.abs(data[k + 1]! - target[1]) + Math.abs(data[k + 2]! - target[2]);
        if (data[k + 3]! > 200 && d < 40) {
          count++;
          sumX += x;
        }
      }
    }
    return { count, meanX: count ? sumX / count : NaN };
  }, rgb);
}

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the dashboard test`;

test('dashboard: signs in from the printed link, shows live fleet, fan chart, actions and market, reconnects after a restart', { skip, timeout: 120_000 }, async (t) => {
  t.diagnostic(`server: ${startCommand().how}`);
  const dir = mkdtempSync(join(tmpdir(), 'prescient-dashboard-'));
  const dbPath = join(dir, 'p.db');
  let server: Server | undefined;
  let context: BrowserContext | undefined;
  try {
    server = await startServer(0, dbPath);
    const { url, token, link } = server;
    assert.ok(token && link, `an admin token and a dashboard link are printed; output:\n${server.output()}`);
    assert.equal(link, `${url}/#token=${token}`);
    const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
      const r = await fetch(`${url}${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      });
      const body = (await r.json()) as any;
      assert.ok(r.ok, `${init.method ?? 'GET'} ${path}: ${r.status} ${JSON.stringify(body)}`);
      return body;
    };

    context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 800 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    // Only the control plane is ever contacted (no CDN, no network).
    const foreign: string[] = [];
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(url) && !u.startsWith('data:')) foreign.push(u);
    });
    const streams: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/v1/events')) streams.push(r.url());
    });

    await page.goto(link);
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 15_000 });
    assert.ok(!page.url().includes('token='), `the token is taken out of the address bar: ${page.url()}`);
    assert.ok(streams.length >= 1 && streams[0]!.includes('access_token='), 'the page subscribes to /v1/events with its token');

    // The fleet: every host with its numbers; the fleet row counts every instance.
    await page.waitForFunction((n) => document.querySelectorAll('#hosts tbody tr[data-host]').length === n, HOSTS, { timeout: 15_000 });
    const hostRows = await page.$$eval('#hosts tbody tr[data-host]', (rows) => rows.map((r) => ({ id: r.getAttribute('data-host'), text: (r as HTMLElement).innerText })));
    const apiHosts = (await api('/v1/hosts')).hosts as Array<{ id: string; on: boolean; capacity: { cpuMillicores: number; memoryMiB: number } }>;
    assert.deepEqual(
      hostRows.map((r) => r.id),
      apiHosts.map((h) => h.id),
    );
    for (const h of apiHosts) {
      const row = hostRows.find((r) => r.id === h.id)!;
      const capCores = (h.capacity.cpuMillicores / 1000).toFixed(1);
      assert.ok(row.text.includes(capCores), `row ${h.id} shows its CPU capacity ${capCores}: ${row.text}`);
      if (h.on) assert.match(row.text, /\d+(\.\d+)? used · \d+(\.\d+)? alloc · \d+(\.\d+)? p90 \/ /, `row ${h.id} shows used, allocated and forecast: ${row.text}`);
    }
    const fleetVms = await page.$eval('#hosts tbody tr.total td.num', (e) => (e as HTMLElement).innerText);
    assert.equal(Number(fleetVms), INSTANCES);

    // The fan chart: history and forecast drawn, the forecast to the right of the actual usage.
    await page.waitForFunction(() => Number(document.querySelector('#fan')?.getAttribute('data-points')) >= 3 && Number(document.querySelector('#fan')?.getAttribute('data-forecast-steps')) > 0, null, { timeout: 20_000 });
    await page.waitForTimeout(300);
    const actual = await colourPixels(page, [0x1d, 0x4e, 0xd8]);
    const median = await colourPixels(page, [0xc2, 0x41, 0x0c]);
    assert.ok(actual.count > 20, `the actual-usage line is drawn (${actual.count} pixels)`);
    assert.ok(median.count > 20, `the forecast median is drawn (${median.count} pixels)`);
    assert.ok(median.meanX > actual.meanX, `the forecast (x ${median.meanX.toFixed(0)}) lies after the history (x ${actual.meanX.toFixed(0)})`);
    const caption = await page.$eval('#fan-caption', (e) => e.textContent ?? '');
    assert.match(caption, /actual \d+\.\d+ cores, allocation \d+\.\d+ cores; next step forecast median \d+\.\d+ cores/);

    // Actions with their reasons.
    await page.waitForSelector('#actions-table tbody tr.action .reason', { timeout: 15_000 });
    const firstAction = await page.$eval('#actions-table tbody tr.action', (e) => (e as HTMLElement).innerText);
    assert.match(firstAction, /resize|migrate|power/);
    const reasonTitle = await page.$eval('#actions-table tbody tr.action .reason', (e) => e.getAttribute('title'));
    assert.ok(reasonTitle && reasonTitle.length > 3, 'a reason is explained');

    // Live: tick events arrive and the tick counter moves. (The counter also follows the status
    // polling, so it may move before an event does: wait for each on its own.)
    const tick0 = Number(await page.$eval('#kpi-tick', (e) => e.textContent));
    const events0 = Number(await page.$eval('body', (e) => e.getAttribute('data-events') ?? '0'));
    await page.waitForFunction((e0) => Number(document.body.getAttribute('data-events') ?? '0') > e0, events0, { timeout: 10_000 });
    await page.waitForFunction((t0) => Number(document.querySelector('#kpi-tick')?.textContent) > t0, tick0, { timeout: 10_000 });

    // The market: empty at first (and says so), then a bid submitted through the API appears
    // through its SSE event (the page does not poll the market).
    assert.match(await page.$eval('#bids', (e) => (e as HTMLElement).innerText), /No bids yet/);
    assert.match(await page.$eval('#credits', (e) => (e as HTMLElement).innerText), /No money moved yet/);
    // Burstable instances of the embedded fleet earn CPU credits; the panel shows them once the
    // loop has written its accrual (about an hour of model time = 12 ticks of 200 ms).
    await page.waitForSelector('#cpu-credits table tbody tr', { timeout: 20_000 });
    const cpuRow = await page.$eval('#cpu-credits table tbody tr', (e) => (e as HTMLElement).innerText);
    assert.match(cpuRow, /\S+\s+[\d,.]+\s+\d+/, `a burstable instance with its CPU credits and bonding units: ${cpuRow}`);
    await api('/submit_workload_profile', {
      method: 'POST',
      body: {
        tenant: 'demo-a',
        id: 'prof-web',
        priority: 'high',
        demand: { cpuMillicores: { average: 500, peak: 1500 }, memoryMiB: { average: 1024, peak: 2048 } },
        interruptibility: { tolerance: 'medium', maxPerDay: 2, maxDurationSeconds: 60 },
      },
    });
    await api('/submit_bid', { method: 'POST', body: { tenant: 'demo-a', id: 'bid-web', profileId: 'prof-web', price: 1.25 } });
    await page.waitForSelector('#bids table', { timeout: 10_000 });
    const bidRow = await page.$eval('#bids tbody tr', (e) => (e as HTMLElement).innerText);
    assert.match(bidRow, /bid-web\s+demo-a\s+prof-web/);
    assert.match(bidRow, /1\.25/);
    assert.match(await page.$eval('#market-summary', (e) => e.textContent ?? ''), /1 bid \(1 open\) · 1 workload profile/);

    mkdirSync(join(repoRoot, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    t.diagnostic(`screenshot: ${SCREENSHOT}`);

    assert.deepEqual(problems, [], 'no errors in the page');

    // Reconnection: stop the server, start it again on the same port and file; the page says it
    // is reconnecting, then comes back live and ticks again with the same token. (The browser
    // logs the refused connections meanwhile: only script errors count from here.)
    const port = Number(new URL(url).port);
    assert.equal(await server.stop(), 0);
    await page.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 10_000 });
    server = await startServer(port, dbPath);
    assert.equal(server.token, undefined, 'the admin token is not printed again');
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 20_000 });
    const tick1 = Number(await page.$eval('#kpi-tick', (e) => e.textContent));
    await page.waitForFunction((t1) => Number(document.querySelector('#kpi-tick')?.textContent) !== t1, tick1, { timeout: 10_000 });
    assert.match(await page.$eval('#bids', (e) => (e as HTMLElement).innerText), /bid-web/, 'the market is reloaded after reconnecting');

    assert.deepEqual(foreign, [], 'no request leaves the control plane');
    assert.deepEqual(problems.filter((p) => !/Failed to load resource: net::ERR_/.test(p)), [], 'no script errors in the page');
  } finally {
    await context?.close().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
