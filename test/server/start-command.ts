// How a test runs `prescient start` in a child process: the built CLI when dist/ is current (what
// `npm start` runs), else the sources through tsx. Shared by the crash, live and dashboard tests.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function newestMtime(dir: string): number {
  let m = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    m = Math.max(m, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return m;
}

/** Node arguments that run `prescient start` (append its options), and which way it runs. */
export function startCommand(): { args: string[]; how: string; built: boolean } {
  const service = join(repoRoot, 'dist', 'server', 'service.js');
  const built = existsSync(service) && statSync(service).mtimeMs >= newestMtime(join(repoRoot, 'src'));
  return built
    ? { args: [join(repoRoot, 'bin', 'prescient'), 'start'], how: 'bin/prescient (dist is current)', built }
    : {
        args: ['--import', 'tsx', '-e', `import(${JSON.stringify(join(repoRoot, 'src', 'cli', 'main.ts'))}).then((m) => m.main(['node', 'prescient', ...process.argv.slice(1)]))`, '--', 'start'],
        how: 'the sources through tsx (dist is stale or missing)',
        built,
      };
}
