// The purity rule, as code: src/core, src/forecast and src/policy hold the decision code, which
// must run the same in the simulator, in tests and against real hosts. So it may not import Node
// builtins or the shells (sim, cli, io, traces, drivers, store, server...), and may not read the
// clock, a random source or the process: time and a seeded Rng are passed in.
//
// Sources are parsed with the TypeScript compiler (comments and strings never match), and every
// kind of import counts: `import`, `import type`, `export ... from`, `import('x')`, `require('x')`,
// `import x = require('x')` and type-level `import('x').T`.
import { builtinModules } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The pure folders under src/ and which src/ folders each may import from. */
export const PURE_FOLDERS: Readonly<Record<string, readonly string[]>> = {
  core: ['core'],
  forecast: ['forecast', 'core'],
  policy: ['policy', 'forecast', 'core'],
};

export interface Violation {
  /** Path relative to the repository root, with forward slashes. */
  file: string;
  /** 1-based. */
  line: number;
  /** The offending text: an import specifier or a call such as `Date.now()`. */
  what: string;
  why: string;
}

/** `obj.prop` accesses (called or not) that read the clock, randomness, or the process / console. */
const FORBIDDEN_MEMBERS: Readonly<Record<string, readonly string[] | '*'>> = {
  Date: ['now'],
  Math: ['random'],
  performance: '*',
  process: '*',
  console: '*',
  crypto: '*',
};
/** Global functions that do I/O or schedule on the real clock. */
const FORBIDDEN_CALLS = new Set(['fetch', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'require']);

const BUILTINS = new Set(builtinModules);

function isNodeBuiltin(spec: string): boolean {
  if (spec.startsWith('node:')) return true;
  return BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]!);
}

/**
 * Checks one source file of pure folder `folder` (a key of PURE_FOLDERS).
 * `srcRoot` is the absolute path of src/, `file` the absolute path of the file, `repoRoot` the
 * root paths are reported relative to.
 */
export function checkPureSource(text: string, file: string, folder: string, srcRoot: string, repoRoot: string): Violation[] {
  const allowed = PURE_FOLDERS[folder];
  if (!allowed) throw new Error(`${folder} is not a pure folder (${Object.keys(PURE_FOLDERS).join(', ')})`);
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const shown = relative(repoRoot, file).split(sep).join('/');
  const out: Violation[] = [];
  const at = (node: ts.Node, what: string, why: string): void => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    out.push({ file: shown, line, what, why });
  };

  const checkSpecifier = (node: ts.Node, spec: string): void => {
    if (isNodeBuiltin(spec)) {
      at(node, `import '${spec}'`, 'pure code may not import Node builtins (no I/O: the shells pass data in)');
      return;
    }
    if (!spec.startsWith('.') && !spec.startsWith('/')) return; // an npm package
    const target = resolve(dirname(file), spec);
    const rel = relative(srcRoot, target);
    const top = rel.split(sep)[0]!;
    if (rel.startsWith('..') || rel === '' || !allowed.includes(top)) {
      const where = rel.startsWith('..') ? 'outside src/' : `src/${top}`;
      at(node, `import '${spec}'`, `src/${folder} may import only ${allowed.map((f) => `src/${f}`).join(', ')}; this is ${where}`);
    }
  };

  const visit = (node: ts.Node): void => {
    // import ... from 'x' / import 'x' / import type ... / export ... from 'x'
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      checkSpecifier(node, node.moduleSpecifier.text);
    }
    // import x = require('x')
    if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const e = node.moduleReference.expression;
      if (ts.isStringLiteral(e)) checkSpecifier(node, e.text);
    }
    // type-level import('x').T
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      checkSpecifier(node, node.argument.literal.text);
    }
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const first = node.arguments[0];
      // import('x') (dynamic)
      if (callee.kind === ts.SyntaxKind.ImportKeyword) {
        if (first && ts.isStringLiteralLike(first)) checkSpecifier(node, first.text);
        else at(node, 'import(<expression>)', 'pure code may not load modules chosen at run time');
      } else if (ts.isIdentifier(callee) && FORBIDDEN_CALLS.has(callee.text)) {
        if (callee.text === 'require' && first && ts.isStringLiteralLike(first)) checkSpecifier(node, first.text);
        at(node, `${callee.text}()`, 'pure code does no I/O and never waits on the real clock');
      } else if (ts.isIdentifier(callee) && callee.text === 'Date') {
        at(node, 'Date()', 'pure code may not read the clock: take `nowS` as a parameter');
      }
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'Date') {
      at(node, 'new Date()', 'pure code may not read the clock or build dates from it: take `nowS` as a parameter');
    }
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const obj = node.expression.text;
      const rule = FORBIDDEN_MEMBERS[obj];
      const prop = node.name.text;
      if (rule && (rule === '*' || rule.includes(prop))) {
        const why =
          obj === 'Math' || obj === 'crypto'
            ? 'pure code may not draw randomness itself: use the seeded Rng passed in (src/core/rng.ts)'
            : obj === 'Date' || obj === 'performance'
              ? 'pure code may not read the clock: take `nowS` as a parameter'
              : 'pure code does no I/O and reads no process state';
        at(node, `${obj}.${prop}`, why);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

export function formatViolations(vs: readonly Violation[]): string {
  return vs.map((v) => `${v.file}:${v.line}: ${v.what}: ${v.why}`).join('\n');
}
