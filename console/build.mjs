// Builds the console into dist/ (index.html, app.js, app.css), the files the cairn
// binary embeds (crates/api/src/console/assets.rs). `--check` builds into a temporary
// folder instead and fails if the committed dist/ differs: scripts/test.sh runs it, so
// a change to src/ without its rebuilt bundle cannot land.
import { build } from 'esbuild';
import { mkdtemp, readFile, readdir, mkdir, copyFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes('--check');
const out = check ? await mkdtemp(join(tmpdir(), 'cairn-console-')) : join(here, 'dist');
await mkdir(out, { recursive: true });

const common = { bundle: true, minify: true, logLevel: 'warning', legalComments: 'eof' };
await build({
  ...common,
  entryPoints: [join(here, 'src/main.js')],
  outfile: join(out, 'app.js'),
  format: 'iife',
  target: ['es2020'],
});
await build({ ...common, entryPoints: [join(here, 'src/style.css')], outfile: join(out, 'app.css') });
await copyFile(join(here, 'src/index.html'), join(out, 'index.html'));

if (check) {
  const committed = join(here, 'dist');
  const files = (await readdir(out)).sort();
  const differ = [];
  for (const file of files) {
    const built = await readFile(join(out, file));
    const kept = await readFile(join(committed, file)).catch(() => null);
    if (!kept || !kept.equals(built)) differ.push(file);
  }
  const extra = (await readdir(committed)).filter((f) => !files.includes(f));
  await rm(out, { recursive: true, force: true });
  if (differ.length || extra.length) {
    console.error(`console/dist is not the build of console/src: ${[...differ, ...extra].join(', ')} differ.`);
    console.error('Run `npm run build` in console/ and commit console/dist.');
    process.exit(1);
  }
  console.log('console/dist matches a fresh build of console/src');
}
