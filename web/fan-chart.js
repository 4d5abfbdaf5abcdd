// The forecast fan chart: an instance's actual usage and allocation (recent history) followed by
// its latest probabilistic forecast drawn as quantile bands (outer: lowest to highest level,
// inner: 25-75 %) around the median. Drawn with uPlot (served from node_modules by the control
// plane at /vendor/uplot/). The readout line under the chart shows the values under the cursor.
import { clock, toDisplay, unitOf } from './format.js';

export const COLORS = {
  actual: '#1d4ed8',
  allocation: '#4b5563',
  median: '#c2410c',
  outer: 'rgba(234, 88, 12, 0.14)',
  inner: 'rgba(234, 88, 12, 0.30)',
  edge: 'rgba(194, 65, 12, 0.45)',
  past: '#7c3aed',
  now: '#9ca3af',
};

const S = { actual: 1, allocation: 2, outerHi: 3, innerHi: 4, median: 5, innerLo: 6, outerLo: 7, past: 8 };

/** Picks the quantile levels the fan is drawn with from what the forecast has. */
export function fanLevels(levels) {
  const sorted = [...levels].sort((a, b) => a - b);
  const has = (x) => sorted.some((l) => Math.abs(l - x) < 1e-9);
  const lo = sorted[0];
  const hi = sorted[sorted.length - 1];
  return {
    outer: sorted.length >= 2 && lo < 0.5 && hi > 0.5 ? [lo, hi] : null,
    inner: has(0.25) && has(0.75) ? [0.25, 0.75] : null,
    median: has(0.5) ? 0.5 : null,
  };
}

const key = (level) => String(level);

/**
 * uPlot data (x in seconds) from the history, the forecast of one resource and the values the
 * page saw predicted one step ahead (tick -> value, in the API's units).
 */
export function buildFanData(history, forecast, resource, past) {
  const field = resource === 'cpu' ? 'cpuMillicores' : 'memoryMiB';
  const f = forecast ? forecast[field] : null;
  const levels = f ? fanLevels(f.levels) : { outer: null, inner: null, median: null };
  const xs = [];
  const cols = Array.from({ length: 9 }, () => []);
  const push = (x, vals) => {
    xs.push(x);
    for (let s = 1; s <= 8; s++) cols[s].push(vals[s] ?? null);
  };
  const lastAt = history.length > 0 ? history[history.length - 1].atMs : NaN;
  for (const h of history) {
    const v = [];
    v[S.actual] = toDisplay(resource, h.usage[field]);
    v[S.allocation] = toDisplay(resource, h.allocation[field]);
    const p = past?.get(h.tick);
    v[S.past] = p === undefined ? null : toDisplay(resource, p);
    // The fan starts at the last actual value when the forecast was made at that tick.
    if (f && h.atMs === lastAt && forecast.madeAtMs === h.atMs) {
      for (const s of [S.outerHi, S.innerHi, S.median, S.innerLo, S.outerLo]) v[s] = v[S.actual];
    }
    push(h.atMs / 1000, v);
  }
  if (f) {
    forecast.stepTimesMs.forEach((t, k) => {
      if (t <= lastAt) return;
      const q = (level) => (level === null ? null : toDisplay(resource, f.quantiles[key(level)]?.[k] ?? null));
      const v = [];
      v[S.outerHi] = levels.outer ? q(levels.outer[1]) : null;
      v[S.innerHi] = levels.inner ? q(levels.inner[1]) : null;
      v[S.median] = levels.median !== null ? q(levels.median) : toDisplay(resource, f.mean[k]);
      v[S.innerLo] = levels.inner ? q(levels.inner[0]) : null;
      v[S.outerLo] = levels.outer ? q(levels.outer[0]) : null;
      push(t / 1000, v);
    });
  }
  cols[0] = xs;
  return { data: cols, levels, nowS: Number.isFinite(lastAt) ? lastAt / 1000 : null };
}

function yRange(_u, min, max) {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  const span = Math.max(max - min, Math.abs(max) * 0.05, 1e-3);
  return [Math.max(0, min - span * 0.15), max + span * 0.15];
}

/** Whole seconds, minutes, hours and days between time ticks (a tick can be shorter than a second). */
const TIME_INCRS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

/** Time tick labels in 24-hour local time, seconds when the ticks are less than a minute apart. */
function timeValues(_u, splits, _axisIdx, _space, incr) {
  return splits.map((s) => {
    const t = clock(s * 1000);
    return incr < 60 ? t : t.slice(0, 5);
  });
}

/** Tick labels with as many decimals as the tick increment needs. */
function axisValues(_u, splits, _axisIdx, _space, incr) {
  const d = Math.min(4, Math.max(0, -Math.floor(Math.log10(incr > 0 ? incr : 1) + 1e-9)));
  return splits.map((v) => v.toFixed(d));
}

const pct = (l) => `${Math.round(l * 100)} %`;

export class FanChart {
  /**
   * @param {HTMLElement} host element the chart goes in
   * @param {HTMLElement} readout element that shows the values under the cursor
   */
  constructor(host, readout) {
    this.host = host;
    this.readout = readout;
    this.plot = null;
    this.resource = null;
    this.nowS = null;
    this.levels = null;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(host);
  }

  size() {
    const w = Math.max(280, Math.floor(this.host.clientWidth));
    const h = Math.max(180, Math.floor(this.host.clientHeight || 260));
    return { width: w, height: h };
  }

  resize() {
    if (this.plot) this.plot.setSize(this.size());
  }

  /** Draws (or redraws) the chart; `summary` is shown under it while the cursor is away. */
  update(history, forecast, resource, past, summary) {
    this.summary = summary;
    const { data, levels, nowS } = buildFanData(history, forecast, resource, past);
    this.nowS = nowS;
    const levelsKey = JSON.stringify(levels);
    if (!this.plot || this.resource !== resource || this.levelsKey !== levelsKey) {
      this.plot?.destroy();
      this.resource = resource;
      this.levels = levels;
      this.levelsKey = levelsKey;
      this.plot = new uPlot(this.options(resource, levels), data, this.host);
      this.plot.root.querySelector('canvas')?.setAttribute('aria-hidden', 'true');
    } else {
      this.plot.setData(data);
    }
    this.showReadout(null);
  }

  options(resource, levels) {
    const unit = unitOf(resource);
    const edge = { stroke: COLORS.edge, width: 1, points: { show: false } };
    const fmt = (_u, v) => (v === null || v === undefined ? '–' : v.toFixed(2));
    const drawNow = (u) => {
      if (this.nowS === null) return;
      const x = Math.round(u.valToPos(this.nowS, 'x', true));
      const { top, height } = u.bbox;
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = COLORS.now;
      ctx.setLineDash([4, 4]);
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillStyle = '#4b5563';
      ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
      ctx.fillText('now', x + 4 * devicePixelRatio, top + 12 * devicePixelRatio);
      ctx.restore();
    };
    return {
      ...this.size(),
      legend: { show: false },
      cursor: { y: false, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [
        { stroke: '#374151', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#d1d5db' }, values: timeValues, incrs: TIME_INCRS_S, space: 64 },
        { stroke: '#374151', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#d1d5db' }, label: unit, labelSize: 18, size: 52, values: axisValues },
      ],
      series: [
        { label: 'time' },
        { label: 'actual', stroke: COLORS.actual, width: 2, value: fmt, points: { show: false } },
        { label: 'allocation', stroke: COLORS.allocation, width: 1.5, dash: [6, 4], paths: uPlot.paths.stepped({ align: 1 }), value: fmt, points: { show: false } },
        { label: `q${levels.outer?.[1] ?? ''}`, ...edge, value: fmt },
        { label: 'q0.75', stroke: 'transparent', width: 0, value: fmt, points: { show: false } },
        { label: 'median', stroke: COLORS.median, width: 2, value: fmt, points: { show: false } },
        { label: 'q0.25', stroke: 'transparent', width: 0, value: fmt, points: { show: false } },
        { label: `q${levels.outer?.[0] ?? ''}`, ...edge, value: fmt },
        { label: 'predicted p90 one step earlier', stroke: COLORS.past, width: 1.5, dash: [2, 3], value: fmt, points: { show: false }, spanGaps: true },
      ],
      bands: [
        ...(levels.outer ? [{ series: [S.outerHi, S.outerLo], fill: COLORS.outer }] : []),
        ...(levels.inner ? [{ series: [S.innerHi, S.innerLo], fill: COLORS.inner }] : []),
      ],
      hooks: {
        draw: [drawNow],
        setCursor: [(u) => this.showReadout(u.cursor.idx)],
      },
    };
  }

  /** The values at one index as a line of text (the last point when the cursor is away). */
  showReadout(idx) {
    const u = this.plot;
    if (!u || !this.readout) return;
    if (idx === null || idx === undefined || u.data[0].length === 0) {
      this.readout.textContent = this.summary ?? '';
      return;
    }
    const i = idx;
    const at = u.data[0][i];
    const val = (s) => u.data[s]?.[i];
    const r = this.resource;
    const unit = unitOf(r);
    const f = (v) => (v === null || v === undefined ? null : `${v.toFixed(2)}`);
    const parts = [clock(at * 1000)];
    if (f(val(S.actual)) !== null) parts.push(`actual ${f(val(S.actual))} ${unit}`);
    if (f(val(S.allocation)) !== null) parts.push(`allocation ${f(val(S.allocation))} ${unit}`);
    if (f(val(S.past)) !== null) parts.push(`p90 predicted a step earlier ${f(val(S.past))} ${unit}`);
    if (this.nowS !== null && at > this.nowS) {
      if (f(val(S.median)) !== null) parts.push(`forecast median ${f(val(S.median))} ${unit}`);
      if (this.levels?.outer && f(val(S.outerLo)) !== null) parts.push(`${pct(this.levels.outer[0])}–${pct(this.levels.outer[1])}: ${f(val(S.outerLo))}–${f(val(S.outerHi))} ${unit}`);
    }
    this.readout.textContent = parts.join(' · ');
  }

  destroy() {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
