// The code's shape, to compare before and after a refactor: lines per folder, loose files at
// src/app's top, files over 250 lines, lines over 120 characters, `--threads` declarations,
// imports that run up a layer, import circles between files, and the longest functions
// (TypeScript via the compiler's AST; C++ by brace matching of top-level and class-member
// definitions). Usage: node scripts/code-stats.mjs [ROOT] [--top N]
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const root = args.find((a, i) => !a.startsWith('--') && i !== topAt + 1) ?? process.cwd();
const top = topAt >= 0 ? Number(args[topAt + 1]) : 12;

function files(dir, exts) {
  let out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(files(p, exts));
    else if (exts.some((x) => p.endsWith(x))) out.push(p);
  }
  return out;
}
const lines = (f) => readFileSync(f, 'utf8').split('\n').length;

const layers = new Map();
for (const f of files(join(root, 'src'), ['.ts'])) {
  const layer = relative(join(root, 'src'), f).split('/')[0];
  layers.set(layer, (layers.get(layer) ?? 0) + lines(f));
}
const nativeFiles = files(join(root, 'native', 'src'), ['.cc', '.h']);
layers.set(
  'native',
  nativeFiles.reduce((a, f) => a + lines(f), 0),
);

const fns = [];
for (const f of files(join(root, 'src'), ['.ts'])) {
  const src = ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true);
  const visit = (n) => {
    if (
      (ts.isFunctionDeclaration(n) ||
        ts.isMethodDeclaration(n) ||
        ts.isArrowFunction(n) ||
        ts.isFunctionExpression(n) ||
        ts.isConstructorDeclaration(n)) &&
      n.body
    ) {
      const a = src.getLineAndCharacterOfPosition(n.getStart()).line;
      const b = src.getLineAndCharacterOfPosition(n.getEnd()).line;
      const name =
        n.name?.getText?.(src) ??
        (ts.isVariableDeclaration(n.parent)
          ? n.parent.name.getText(src)
          : ts.isPropertyAssignment(n.parent)
            ? n.parent.name.getText(src)
            : '(anonymous)');
      if (b - a + 1 >= 40) fns.push({ where: `${relative(root, f)}:${a + 1}`, name, lines: b - a + 1 });
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
}
for (const f of nativeFiles.filter((x) => x.endsWith('.cc'))) {
  const text = readFileSync(f, 'utf8').split('\n');
  // A definition starts at a line ending in '{' whose brace depth before it is 0 (free function)
  // or 1 inside a class/namespace body; it ends where the depth returns.
  let depth = 0;
  let start = -1;
  let startDepth = 0;
  text.forEach((l, i) => {
    const code = l.replace(/\/\/.*$/, '').replace(/"([^"\\]|\\.)*"/g, '""');
    if (
      start < 0 &&
      /\)\s*(const\s*)?(override\s*)?(noexcept\s*)?\{\s*$/.test(code) &&
      depth <= 2 &&
      !/^\s*(if|for|while|switch|else|catch)\b/.test(code)
    ) {
      start = i;
      startDepth = depth;
    }
    for (const c of code) {
      if (c === '{') depth++;
      else if (c === '}') depth--;
    }
    if (start >= 0 && depth === startDepth) {
      if (i - start + 1 >= 40)
        fns.push({
          where: `${relative(root, f)}:${start + 1}`,
          name: text[start].trim().slice(0, 60),
          lines: i - start + 1,
        });
      start = -1;
    }
  });
}
fns.sort((a, b) => b.lines - a.lines);
console.log('lines per layer:');
for (const [k, v] of [...layers].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(8)} ${v}`);

// Folders, top to bottom; an import may only point to the same rank or a lower one.
const RANK = { cli: 5, bench: 4, app: 3, recipe: 2, data: 2, engine: 1, util: 0 };
const srcFiles = files(join(root, 'src'), ['.ts']);
const folders = new Map();
for (const f of srcFiles) {
  const d = relative(root, dirname(f));
  folders.set(d, (folders.get(d) ?? 0) + lines(f));
}
console.log('lines per folder:');
for (const [k, v] of [...folders].sort()) console.log(`  ${k.padEnd(28)} ${v}`);
const appTop = existsSync(join(root, 'src', 'app'))
  ? readdirSync(join(root, 'src', 'app')).filter((e) => e.endsWith('.ts'))
  : [];
console.log(`loose files at src/app's top: ${appTop.length}`);
const big = srcFiles.filter((f) => lines(f) > 250);
console.log(`files over 250 lines: ${big.length}`);
for (const f of big) console.log(`  ${lines(f)}  ${relative(root, f)}`);
const long = srcFiles.reduce(
  (a, f) =>
    a +
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l.length > 120).length,
  0,
);
console.log(`lines over 120 characters in src: ${long}`);
const threads = srcFiles.reduce(
  (a, f) => a + (readFileSync(f, 'utf8').match(/['"`]--threads[ '"`<]/g) ?? []).length,
  0,
);
console.log(`'--threads' declarations: ${threads}`);

const graph = new Map();
const upward = [];
for (const f of srcFiles) {
  const text = readFileSync(f, 'utf8');
  const deps = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
    const target = resolve(dirname(f), m[1].replace(/\.js$/, '.ts'));
    if (!existsSync(target)) continue;
    deps.push(target);
    const a = relative(join(root, 'src'), f).split('/')[0];
    const b = relative(join(root, 'src'), target).split('/')[0];
    if ((RANK[b] ?? 0) > (RANK[a] ?? 0)) upward.push(`${relative(root, f)} -> ${relative(root, target)}`);
  }
  graph.set(f, deps);
}
console.log(`imports up a layer: ${upward.length}`);
for (const u of upward) console.log(`  ${u}`);
// Tarjan's strongly connected components: every component of two or more files is a circle.
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const on = new Set();
const circles = [];
const strong = (v) => {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  on.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const c = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      c.push(relative(root, w));
    } while (w !== v);
    if (c.length > 1) circles.push(c);
  }
};
for (const f of srcFiles) if (!idx.has(f)) strong(f);
console.log(`import circles between files: ${circles.length}`);
for (const c of circles) console.log(`  ${c.join(' <-> ')}`);
console.log(`functions of 40 lines or more: ${fns.length}; over 80: ${fns.filter((f) => f.lines > 80).length}`);
for (const f of fns.slice(0, top)) console.log(`  ${String(f.lines).padStart(4)}  ${f.name}  ${f.where}`);
