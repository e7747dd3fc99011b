// Prints what issue 10 asks to compare before/after a refactor: lines per layer (src/<layer>,
// native/src) and the longest functions (TypeScript via the compiler's AST; C++ by brace
// matching of top-level and class-member definitions). Usage: node scripts/code-stats.mjs [ROOT] [--top N]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const args = process.argv.slice(2);
const root = args.find((a) => !a.startsWith('--')) ?? process.cwd();
const top = Number(args[args.indexOf('--top') + 1]) || 12;

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
layers.set('native', nativeFiles.reduce((a, f) => a + lines(f), 0));

const fns = [];
for (const f of files(join(root, 'src'), ['.ts'])) {
  const src = ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true);
  const visit = (n) => {
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n)) && n.body) {
      const a = src.getLineAndCharacterOfPosition(n.getStart()).line;
      const b = src.getLineAndCharacterOfPosition(n.getEnd()).line;
      const name = n.name?.getText?.(src) ?? (ts.isVariableDeclaration(n.parent) ? n.parent.name.getText(src) : ts.isPropertyAssignment(n.parent) ? n.parent.name.getText(src) : '(anonymous)');
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
    if (start < 0 && /\)\s*(const\s*)?(override\s*)?(noexcept\s*)?\{\s*$/.test(code) && depth <= 2 && !/^\s*(if|for|while|switch|else|catch)\b/.test(code)) { start = i; startDepth = depth; }
    for (const c of code) { if (c === '{') depth++; else if (c === '}') depth--; }
    if (start >= 0 && depth === startDepth) {
      if (i - start + 1 >= 40) fns.push({ where: `${relative(root, f)}:${start + 1}`, name: text[start].trim().slice(0, 60), lines: i - start + 1 });
      start = -1;
    }
  });
}
fns.sort((a, b) => b.lines - a.lines);
console.log('lines per layer:');
for (const [k, v] of [...layers].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(8)} ${v}`);
console.log(`functions of 40 lines or more: ${fns.length}; over 80: ${fns.filter((f) => f.lines > 80).length}`);
for (const f of fns.slice(0, top)) console.log(`  ${String(f.lines).padStart(4)}  ${f.name}  ${f.where}`);
