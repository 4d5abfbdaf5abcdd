// Locates ../shared/traces (the real public traces) relative to the repo root.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const candidates = [
  resolve(process.cwd(), '../shared/traces'),
  fileURLToPath(new URL('../../../shared/traces', import.meta.url)),
];

/** Absolute path of a folder or file under shared/traces, or undefined when it is not there. */
export function sharedTrace(relative: string): string | undefined {
  for (const root of candidates) {
    const p = resolve(root, relative);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The skip message used when a real trace is missing. */
export const missingTrace = (relative: string): string => `real trace ../shared/traces/${relative} not found; skipped`;
