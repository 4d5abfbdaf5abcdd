// Architecture guard rails, checked on the real source tree:
// 1. the purity rule: src/core, src/forecast and src/policy import no Node builtin and no shell
//    folder (core imports only core; forecast also core; policy also forecast), and never read
//    the clock, randomness or the process (see purity-rules.ts);
// 2. code under src/ imports at run time only packages listed in package.json "dependencies"
//    (dev dependencies are not installed with `npm ci --omit=dev`).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { checkPureSource, formatViolations, PURE_FOLDERS } from './purity-rules.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const srcRoot = join(repoRoot, 'src');

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) tsFiles(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

test('src/core, src/forecast and src/policy are pure: no Node builtins, no shell folders, no clock or randomness', () => {
  const all = [];
  for (const folder of Object.keys(PURE_FOLDERS)) {
    const files = tsFiles(join(srcRoot, folder));
    assert.ok(files.length > 0, `no .ts files found under src/${folder}: has the folder moved? update PURE_FOLDERS`);
    for (const f of files) all.push(...checkPureSource(readFileSync(f, 'utf8'), f, folder, srcRoot, repoRoot));
  }
  assert.equal(all.length, 0, `purity rule broken (see ARCHITECTURE.md, "The purity rule"):\n${formatViolations(all)}`);
});

test('the purity checker flags every kind of forbidden import and call, with file and line', () => {
  const file = join(srcRoot, 'forecast', 'models', 'example.ts');
  const src = [
    "import { readFileSync } from 'node:fs';", // 1
    "import path from 'path';", // 2
    "import type { KeptSeries } from '../../sim/engine.js';", // 3
    "export { CsvWriter } from '../../io/csv-writer.js';", // 4
    "const m = await import('fs/promises');", // 5
    "import x = require('../../traces/format.js');", // 6
    "type T = import('../../cli/main.js').Foo;", // 7
    'const now = Date.now();', // 8
    'const d = new Date(0);', // 9
    'const r = Math.random();', // 10
    'const p = performance.now();', // 11
    'const e = process.env.HOME;', // 12
    'console.log(1);', // 13
    'setTimeout(() => {}, 1);', // 14
    "// a comment saying Date.now() or import 'node:fs' is fine", // 15
    "const s = 'Math.random() in a string is fine';", // 16
    "import { z } from 'zod';", // 17: npm package, allowed
    "import { Resources } from '../../core/resources.js';", // 18: allowed
    "import { pinball } from '../quantile.js';", // 19: allowed
    'const u = Date.UTC(2020, 0, 1);', // 20: pure arithmetic, allowed
    "import { decide } from '../../policy/framework/decide.js';", // 21: forecast may not import policy
    "import { x as y } from '../../../scripts/run-tests.mjs';", // 22: outside src
  ].join('\n');
  const vs = checkPureSource(src, file, 'forecast', srcRoot, repoRoot);
  const lines = vs.map((v) => v.line);
  assert.deepEqual(lines, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 21, 22], formatViolations(vs));
  assert.equal(vs[0]!.file, 'src/forecast/models/example.ts');
  assert.match(formatViolations(vs), /^src\/forecast\/models\/example\.ts:1: import 'node:fs': /);
  assert.match(vs[2]!.why, /src\/forecast may import only src\/forecast, src\/core; this is src\/sim/);
});

test('each pure folder may import only the folders below it', () => {
  const importing = (folder: string, target: string) =>
    checkPureSource(`import { a } from '../${target}/x.js';`, join(srcRoot, folder, 'f.ts'), folder, srcRoot, repoRoot).length === 0;
  assert.deepEqual(
    Object.keys(PURE_FOLDERS).map((f) => [f, ['core', 'forecast', 'policy', 'sim', 'traces', 'io', 'cli'].filter((t) => importing(f, t))]),
    [
      ['core', ['core']],
      ['forecast', ['core', 'forecast']],
      ['policy', ['core', 'forecast', 'policy']],
    ],
  );
});

/** Packages imported at run time (type-only imports are erased) by `text`. */
function runtimePackages(text: string, file: string): Array<{ name: string; line: number }> {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: Array<{ name: string; line: number }> = [];
  const add = (node: ts.Node, spec: string): void => {
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) return;
    const parts = spec.split('/');
    const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
    out.push({ name, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && !node.importClause?.isTypeOnly) add(node, node.moduleSpecifier.text);
    if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) add(node, node.moduleSpecifier.text);
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = node.arguments[0];
      if (a && ts.isStringLiteralLike(a)) add(node, a.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

test('code under src/ imports at run time only packages in package.json "dependencies" (or Node builtins)', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const deps = new Set(Object.keys(pkg.dependencies ?? {}));
  const bad: string[] = [];
  for (const f of tsFiles(srcRoot)) {
    for (const p of runtimePackages(readFileSync(f, 'utf8'), f)) {
      if (!deps.has(p.name) && !isBuiltin(p.name)) {
        bad.push(`${relative(repoRoot, f).split(sep).join('/')}:${p.line}: imports '${p.name}', which is not in package.json "dependencies"`);
      }
    }
  }
  assert.deepEqual(bad, [], bad.join('\n'));
});
