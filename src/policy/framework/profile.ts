// A profile enables, orders and weights plugins for each extension point (the Kubernetes
// scheduler's KubeSchedulerProfile). `compileProfile` validates the whole config, collecting every
// problem with its path, then builds the plugin instances (options -> compile -> compiled).
import { z } from 'zod';
import { ValidationError, type Issue } from '../../core/errors.js';
import { zodIssues, type PluginEntry, type PluginRegistry } from './registry.js';
import type {
  ExtensionPoint,
  ForecastProvider,
  OverloadDetector,
  PlacementFilter,
  PlacementScorer,
  Plugin,
  PluginEnv,
  Rightsizer,
  UnderloadDetector,
  VictimSelector,
} from './types.js';

const pluginRef = z.object({ name: z.string(), args: z.unknown().optional() });
const weightedRef = pluginRef.extend({ weight: z.number().positive().finite().default(1) });

export const profileSchema = z.object({
  name: z.string().default('default'),
  rightsize: pluginRef,
  forecast: pluginRef.optional(),
  filters: z.array(pluginRef).default([]),
  scorers: z.array(weightedRef).default([]),
  overload: pluginRef.optional(),
  underload: pluginRef.optional(),
  victim: pluginRef.optional(),
  /** Allow the sum of allocations on a host to exceed its capacity (admission by predicted demand). */
  overcommit: z.boolean().default(false),
});

export type ProfileConfig = z.input<typeof profileSchema>;
export type PluginRef = z.infer<typeof pluginRef>;

export interface CompiledProfile {
  name: string;
  rightsizer: Rightsizer;
  forecast?: ForecastProvider;
  filters: PlacementFilter[];
  scorers: Array<{ plugin: PlacementScorer; weight: number }>;
  overload?: OverloadDetector;
  underload?: UnderloadDetector;
  victim?: VictimSelector;
  overcommit: boolean;
  /** Every distinct plugin instance once (a plugin used at several points is shared). */
  plugins: Plugin[];
}

/** Validates and builds a profile. Throws one ValidationError listing every problem found. */
export function compileProfile(config: unknown, registry: PluginRegistry, env: PluginEnv): CompiledProfile {
  const parsed = profileSchema.safeParse(config);
  const issues: Issue[] = parsed.success ? [] : zodIssues(parsed.error, '');
  // On a structural problem, carry on with what can be read so plugin problems are reported too.
  const cfg = parsed.success ? parsed.data : lenient(config);
  const cache = new Map<string, Plugin>();

  const build = (ref: PluginRef, point: ExtensionPoint, path: string): Plugin | undefined => {
    const { entry, issues: found } = registry.check(ref.name, point, path);
    issues.push(...found);
    if (!entry) return undefined;
    const { value, issues: argIssues } = registry.parseArgs(entry, ref.args, path);
    issues.push(...argIssues);
    if (argIssues.length > 0) return undefined;
    const key = `${entry.name}\u0000${JSON.stringify(value)}`;
    let plugin = cache.get(key);
    if (!plugin) {
      plugin = (entry as PluginEntry).create(value, env);
      cache.set(key, plugin);
    }
    return plugin;
  };

  const rightsizer = build(cfg.rightsize, 'rightsize', 'rightsize') as Rightsizer | undefined;
  // A chosen policy's companions fill the slots the profile leaves empty.
  const companions = registry.has(cfg.rightsize.name) ? registry.get(cfg.rightsize.name).companions ?? {} : {};
  const forecastRef = cfg.forecast ?? companions.forecast;
  const forecast = forecastRef ? (build(forecastRef, 'forecast', 'forecast') as ForecastProvider | undefined) : undefined;
  const filters = cfg.filters.map((r, i) => build(r, 'filter', `filters[${i}]`) as PlacementFilter | undefined);
  const scorers = cfg.scorers.map((r, i) => ({ plugin: build(r, 'score', `scorers[${i}]`) as PlacementScorer | undefined, weight: r.weight }));
  const overload = cfg.overload ? (build(cfg.overload, 'overload', 'overload') as OverloadDetector | undefined) : undefined;
  const underload = cfg.underload ? (build(cfg.underload, 'underload', 'underload') as UnderloadDetector | undefined) : undefined;
  const victim = cfg.victim ? (build(cfg.victim, 'victim', 'victim') as VictimSelector | undefined) : undefined;
  if (cfg.overload && !cfg.victim) issues.push({ path: 'victim', message: 'an overload detector needs a victim selector' });

  if (issues.length > 0 || !rightsizer) throw new ValidationError(issues, 'invalid policy profile');
  return {
    name: cfg.name,
    rightsizer,
    ...(forecast ? { forecast } : {}),
    filters: filters as PlacementFilter[],
    scorers: scorers as Array<{ plugin: PlacementScorer; weight: number }>,
    ...(overload ? { overload } : {}),
    ...(underload ? { underload } : {}),
    ...(victim ? { victim } : {}),
    overcommit: cfg.overcommit,
    plugins: [...cache.values()],
  };
}

/** Best-effort reading of a profile that failed its schema (every problem is already an issue). */
function lenient(config: unknown): z.infer<typeof profileSchema> {
  const o = (config && typeof config === 'object' ? config : {}) as Record<string, unknown>;
  const ref = (v: unknown): PluginRef => {
    const r = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
    return { name: typeof r.name === 'string' ? r.name : '', args: r.args };
  };
  const opt = (v: unknown): PluginRef | undefined => (v === undefined ? undefined : ref(v));
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const forecast = opt(o.forecast);
  const overload = opt(o.overload);
  const underload = opt(o.underload);
  const victim = opt(o.victim);
  return {
    name: typeof o.name === 'string' ? o.name : 'default',
    rightsize: ref(o.rightsize),
    ...(forecast ? { forecast } : {}),
    filters: list(o.filters).map(ref),
    scorers: list(o.scorers).map((v) => ({ ...ref(v), weight: 1 })),
    ...(overload ? { overload } : {}),
    ...(underload ? { underload } : {}),
    ...(victim ? { victim } : {}),
    overcommit: o.overcommit === true,
  };
}
