// Formatting helpers for the dashboard: units (millicores -> cores, MiB -> GiB), times and the
// reason codes of the policy framework (src/policy/framework/reasons.ts) in words.

const nf1 = new Intl.NumberFormat('en', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const nf2 = new Intl.NumberFormat('en', { maximumFractionDigits: 2, minimumFractionDigits: 2 });
const nf0 = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });

const finite = (x) => typeof x === 'number' && Number.isFinite(x);

/** Three significant-ish digits: 2 decimals under 10, 1 under 100, none above. */
function short(x) {
  const a = Math.abs(x);
  return a < 10 ? nf2.format(x) : a < 100 ? nf1.format(x) : nf0.format(x);
}

/** Millicores as cores: "25.3". */
export function cores(millicores) {
  return finite(millicores) ? short(millicores / 1000) : '–';
}

/** MiB as GiB: "185". */
export function gib(mib) {
  return finite(mib) ? short(mib / 1024) : '–';
}

/** A resource amount with its unit: cpu in cores, memory in GiB. */
export function amount(resource, value) {
  return resource === 'cpu' ? `${cores(value)} cores` : `${gib(value)} GiB`;
}

/** Value in display units (cores or GiB) for charts. */
export function toDisplay(resource, value) {
  if (!finite(value)) return null;
  return resource === 'cpu' ? value / 1000 : value / 1024;
}

export function unitOf(resource) {
  return resource === 'cpu' ? 'cores' : 'GiB';
}

export function int(x) {
  return finite(x) ? nf0.format(x) : '–';
}

export function ms(x) {
  if (!finite(x)) return '–';
  return x < 10 ? `${nf1.format(x)} ms` : `${nf0.format(x)} ms`;
}

export function percent(x) {
  return finite(x) ? `${nf0.format(x * 100)} %` : '–';
}

/** Wall-clock time of day, HH:MM:SS (24 h). */
export function clock(atMs) {
  if (!finite(atMs)) return '–';
  const d = new Date(atMs);
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Microcredits as credits: "1.25". */
export function credits(micro) {
  if (!finite(micro)) return '–';
  return new Intl.NumberFormat('en', { maximumFractionDigits: 6 }).format(micro / 1e6);
}

/** What each reason code means (shown as a tooltip and to screen readers). */
export const REASONS = {
  'no-history': 'no usage history yet',
  keep: 'kept as it is',
  'provisioned-capacity': 'set to the provisioned capacity',
  'percentile-target': 'target from a usage percentile',
  'safety-margin': 'safety margin added',
  'min-resources': 'raised to the minimum resources',
  'confidence-scaled': 'margin scaled by forecast confidence',
  'oom-bump': 'memory raised after an out-of-memory event',
  'memory-peaks': 'memory sized for its peaks',
  'forecast-quantile': 'sized to a forecast quantile',
  'capped-by-host': 'capped by the host capacity',
  'host-off': 'host is off',
  'insufficient-cpu': 'not enough CPU',
  'insufficient-memory': 'not enough memory',
  'predicted-cpu-peak-exceeds-capacity': 'predicted CPU peak exceeds the capacity',
  'predicted-memory-peak-exceeds-capacity': 'predicted memory peak exceeds the capacity',
  'same-host': 'already on that host',
  'no-feasible-host': 'no host can take it',
  placed: 'placed on a host',
  'power-on-for-placement': 'host powered on to place an instance',
  overloaded: 'host overloaded',
  'predicted-overload': 'host overload predicted',
  'not-overloaded': 'host not overloaded',
  underloaded: 'host underloaded',
  'host-empty': 'host has no instances',
  victim: 'chosen to relieve an overloaded host',
  consolidate: 'consolidating to fewer hosts',
};

export function reasonText(code) {
  return REASONS[code] ?? code;
}
