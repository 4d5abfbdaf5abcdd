// report.html: one self-contained page (uPlot's JS and CSS inlined from node_modules/uplot/dist,
// no network): the summary table, allocation vs usage for a few instances, the slack /
// violation-rate trade-off of every policy run found next to this one, and hosts in use over time.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import type { KeptSeries } from './engine.js';

export interface RunPoint {
  label: string;
  resource: string;
  slack: number;
  violationRate: number;
  current: boolean;
}

function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  const dist = join(dirname(require.resolve('uplot/package.json')), 'dist');
  return { js: readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(join(dist, 'uPlot.min.css'), 'utf8') };
}

/** Points of the summaries in sibling folders of outDir with the same format and scenario. */
export function siblingRuns(outDir: string, summary: { format: string; scenario: string; trace: string }): RunPoint[] {
  const parent = dirname(resolve(outDir));
  const self = resolve(outDir);
  const out: RunPoint[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(parent);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const dir = join(parent, name);
    if (dir === self) continue;
    const f = join(dir, 'summary.json');
    if (!existsSync(f)) continue;
    try {
      const s = JSON.parse(readFileSync(f, 'utf8'));
      if (s.format !== summary.format || s.scenario !== summary.scenario || s.trace !== summary.trace) continue;
      for (const [k, v] of Object.entries(s.resources ?? {})) {
        const m = v as { slack: number; violation_rate: number };
        if (typeof m.slack === 'number' && typeof m.violation_rate === 'number') {
          out.push({ label: `${s.policy} (${basename(dir)})`, resource: k, slack: m.slack, violationRate: m.violation_rate, current: false });
        }
      }
    } catch {
      // an unreadable neighbour is not our problem
    }
  }
  return out;
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function tradeoffSvg(points: RunPoint[]): string {
  if (points.length === 0) return '<p>No runs to compare.</p>';
  const W = 640;
  const H = 360;
  const pad = 50;
  const maxX = Math.max(0.05, ...points.map((p) => p.slack)) * 1.1;
  const maxY = Math.max(0.01, ...points.map((p) => p.violationRate)) * 1.1;
  const x = (v: number): number => pad + (v / maxX) * (W - 2 * pad);
  const y = (v: number): number => H - pad - (v / maxY) * (H - 2 * pad);
  const colors: Record<string, string> = { cpu: '#1f77b4', memory: '#d62728' };
  const dots = points
    .map((p) => {
      const c = colors[p.resource] ?? '#555';
      const r = p.current ? 7 : 5;
      const right = p.slack > 0.55 * maxX; // label on the left near the right edge
      return `<g><circle cx="${x(p.slack).toFixed(1)}" cy="${y(p.violationRate).toFixed(1)}" r="${r}" fill="${p.current ? c : 'none'}" stroke="${c}" stroke-width="2"><title>${esc(p.label)} ${p.resource}: slack ${p.slack.toFixed(4)}, violation rate ${p.violationRate.toFixed(4)}</title></circle><text x="${(x(p.slack) + (right ? -9 : 9)).toFixed(1)}" y="${(y(p.violationRate) + 4).toFixed(1)}" font-size="11" text-anchor="${right ? 'end' : 'start'}">${esc(p.label)} ${p.resource}</text></g>`;
    })
    .join('');
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (t) =>
        `<text x="${x(t * maxX).toFixed(1)}" y="${H - pad + 16}" font-size="10" text-anchor="middle">${(t * maxX).toFixed(3)}</text><text x="${pad - 6}" y="${(y(t * maxY) + 3).toFixed(1)}" font-size="10" text-anchor="end">${(t * maxY).toFixed(4)}</text>`,
    )
    .join('');
  return `<svg width="${W}" height="${H}" role="img" aria-label="slack vs violation rate">
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#333"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#333"/>
${ticks}<text x="${W / 2}" y="${H - 10}" text-anchor="middle" font-size="12">slack (unused share of allocation)</text>
<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle" font-size="12">violation rate</text>${dots}</svg>
<p class="note">Filled: this run; hollow: other runs in sibling folders on the same trace and scenario. Lower-left is better.</p>`;
}

/** Downsamples a chart series to at most `max` points by taking every k-th index. */
function thin(n: number, max: number): number[] {
  const k = Math.max(1, Math.ceil(n / max));
  const idx: number[] = [];
  for (let i = 0; i < n; i += k) idx.push(i);
  return idx;
}

export interface ReportInput {
  summary: Record<string, any>;
  kept: KeptSeries[];
  hostsOn?: number[];
  stepSeconds: number;
  points: RunPoint[];
}

export function renderReport(inp: ReportInput): string {
  const { js, css } = uplotAssets();
  const s = inp.summary;
  const charts: Array<{ title: string; x: number[]; series: Array<{ label: string; values: Array<number | null>; color: string }> }> = [];
  const hours = (i: number): number => (i * inp.stepSeconds) / 3600;
  for (const k of inp.kept) {
    const n = k.usage.cpu.length;
    const idx = thin(n, 4000);
    for (const res of ['cpu', 'memory'] as const) {
      const u = k.usage[res];
      if (!Array.from(u).some((v) => Number.isFinite(v))) continue;
      const fin = (v: number): number | null => (Number.isFinite(v) ? v : null);
      charts.push({
        title: `${k.id} ${res} (${k.units[res]}) - allocation vs usage; scored from index ${k.start}`,
        x: idx.map(hours),
        series: [
          { label: 'usage', values: idx.map((i) => fin(u[i]!)), color: '#1f77b4' },
          { label: 'allocation', values: idx.map((i) => fin(k.allocation[res][i]!)), color: '#d62728' },
        ],
      });
    }
  }
  if (inp.hostsOn && inp.hostsOn.length > 0) {
    const idx = thin(inp.hostsOn.length, 4000);
    charts.push({ title: 'hosts powered on', x: idx.map(hours), series: [{ label: 'hosts on', values: idx.map((i) => inp.hostsOn![i]!), color: '#2ca02c' }] });
  }
  const rows: Array<[string, string]> = [
    ['policy', String(s.policy)],
    ['scenario', String(s.scenario)],
    ['trace', `${s.trace} (${s.format})`],
    ['instances / scored rows', `${s.counts?.instances} / ${s.counts?.rows}`],
  ];
  for (const [k, v] of Object.entries(s.resources ?? {})) {
    const m = v as { violation_rate: number; slack: number };
    rows.push([`${k} violation rate`, m.violation_rate.toFixed(5)], [`${k} slack`, m.slack.toFixed(5)]);
  }
  for (const k of ['energy_kwh', 'migrations', 'host_shutdowns', 'slatah_pct', 'pdm_pct', 'slav_pct', 'active_host_hours', 'wall_ms']) {
    if (typeof s[k] === 'number') rows.push([k, Number.isInteger(s[k]) ? String(s[k]) : s[k].toFixed(5)]);
  }
  const table = `<table>${rows.map(([a, b]) => `<tr><th>${esc(a)}</th><td>${esc(b)}</td></tr>`).join('')}</table>`;
  const data = JSON.stringify(charts).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>prescient simulate: ${esc(String(s.policy))} / ${esc(String(s.scenario))}</title>
<style>${css}
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin-bottom:16px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}
.note{color:#666;font-size:13px}h2{margin-top:28px}</style></head>
<body>
<h1>prescient simulate</h1>
${table}
<h2>Slack / violation trade-off</h2>
${tradeoffSvg(inp.points)}
<h2>Allocation vs usage${inp.hostsOn ? ', hosts in use' : ''}</h2>
<p class="note">x axis: hours since the start of the trace. Allocation for each sample was decided only from the samples before it.</p>
<div id="charts"></div>
<script>${js}</script>
<script>
(function(){
  var charts = ${data};
  var root = document.getElementById('charts');
  charts.forEach(function(c){
    var h = document.createElement('h3'); h.textContent = c.title; root.appendChild(h);
    var div = document.createElement('div'); root.appendChild(div);
    var opts = { width: Math.min(1050, window.innerWidth - 60), height: 260,
      scales: { x: { time: false } },
      axes: [{ label: 'hours' }, {}],
      series: [{ label: 'h' }].concat(c.series.map(function(s){ return { label: s.label, stroke: s.color, width: 1.2, spanGaps: false }; })) };
    new uPlot(opts, [c.x].concat(c.series.map(function(s){ return s.values; })), div);
  });
})();
</script>
</body></html>
`;
}
