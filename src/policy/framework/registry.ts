// A registry of named plugins (policies), each a factory with zod-validated arguments.
// Duplicate names are rejected; an unknown name gets an error listing the valid ones; argument
// problems are collected, every one with its path (`scorers[1].args.weight: ...`).
import { z } from 'zod';
import { PrescientError, type Issue } from '../../core/errors.js';
import type { ExtensionPoint, Plugin, PluginEnv } from './types.js';

export interface PluginEntry<A = any> {
  readonly name: string;
  readonly description: string;
  /** Extension points the plugin implements. */
  readonly points: readonly ExtensionPoint[];
  /** Schema of the arguments (defaults applied by the schema). */
  readonly args: z.ZodType<A>;
  create(args: A, env: PluginEnv): Plugin;
  /**
   * Companion plugins a profile gets when this one is chosen as the policy and the profile
   * does not name its own (e.g. the forecast source a predictive rightsizer needs).
   */
  readonly companions?: Partial<Record<ExtensionPoint, { name: string; args?: unknown }>>;
}

/** Turns zod issues into our issues, each path prefixed. */
export function zodIssues(error: z.ZodError, prefix: string): Issue[] {
  return error.issues.map((i) => {
    const tail = i.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('');
    const path = prefix ? `${prefix}${tail}` : tail.replace(/^\./, '');
    return { path, message: i.message };
  });
}

export class PluginRegistry {
  private readonly entries = new Map<string, PluginEntry>();

  register(entry: PluginEntry): this {
    if (this.entries.has(entry.name)) {
      throw new PrescientError('E_POLICY', `policy "${entry.name}" is already registered`);
    }
    if (!/^[a-z][a-z0-9-]*$/.test(entry.name)) {
      throw new PrescientError('E_POLICY', `policy name "${entry.name}" must be lower-case kebab-case`);
    }
    this.entries.set(entry.name, entry);
    return this;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Names, sorted; optionally only those implementing a point. */
  names(point?: ExtensionPoint): string[] {
    return [...this.entries.values()]
      .filter((e) => point === undefined || e.points.includes(point))
      .map((e) => e.name)
      .sort();
  }

  /** The entry, or an error that lists the valid names. */
  get(name: string, point?: ExtensionPoint): PluginEntry {
    const e = this.entries.get(name);
    if (!e || (point !== undefined && !e.points.includes(point))) {
      const valid = this.names(point);
      const what = point ? `${point} policy` : 'policy';
      throw new PrescientError('E_POLICY', `unknown ${what} "${name}"; valid: ${valid.join(', ') || '(none)'}`);
    }
    return e;
  }

  /** Looks up a name for an extension point; an unknown name or a mismatch is an issue, not a throw. */
  check(name: unknown, point: ExtensionPoint, path: string): { entry?: PluginEntry; issues: Issue[] } {
    if (typeof name !== 'string') return { issues: [{ path: `${path}.name`, message: 'expected a policy name (string)' }] };
    const e = this.entries.get(name);
    if (!e) {
      return { issues: [{ path: `${path}.name`, message: `unknown policy "${name}"; valid ${point} policies: ${this.names(point).join(', ') || '(none)'}` }] };
    }
    if (!e.points.includes(point)) {
      return {
        issues: [{ path: `${path}.name`, message: `"${name}" does not implement ${point} (it implements ${e.points.join(', ')}); valid: ${this.names(point).join(', ')}` }],
      };
    }
    return { entry: e, issues: [] };
  }

  /** Validates arguments; every problem is returned with its path. */
  parseArgs(entry: PluginEntry, args: unknown, path: string): { value?: unknown; issues: Issue[] } {
    const r = entry.args.safeParse(args ?? {});
    if (r.success) return { value: r.data, issues: [] };
    return { issues: zodIssues(r.error, `${path}.args`) };
  }
}
