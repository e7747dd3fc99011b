// `npm run lint`: Biome's formatter and linter over the tree (biome.json), then the line limit
// for what the formatter cannot wrap (comments, strings, C++): no line over 120 characters.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const LIMIT = 120;
const biome = spawnSync('npx', ['biome', 'ci', '.'], { stdio: 'inherit' });
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => /\.(ts|mjs|cjs|js|cc|h|css|html)$/.test(f))
  // Recorded output that a test compares byte for byte keeps its lines as they were written.
  .filter((f) => !f.startsWith('test/fixtures/'));
const long = [];
for (const f of files) {
  let text;
  try {
    text = readFileSync(f, 'utf8');
  } catch {
    continue; // deleted in the working tree
  }
  text.split('\n').forEach((line, i) => {
    if (line.length > LIMIT) long.push(`${f}:${i + 1}: ${line.length} characters`);
  });
}
for (const l of long) console.error(l);
if (long.length) console.error(`${long.length} lines over ${LIMIT} characters`);
process.exit(biome.status || (long.length ? 1 : 0));
