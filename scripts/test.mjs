// Runs every *.test.ts under src/ and test/ with Node's test runner (tsx strips the types).
// Node 20's --test takes no globs, so the files are found here and passed explicitly.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

const only = process.argv.slice(2);
const files = only.length ? only : ['src', 'test'].flatMap(find).sort();
const result = spawnSync(
  process.execPath,
  // A failing integration test can leave sockets open; force-exit keeps that from hanging the run, and
  // the timeout turns a test that never settles into a failure.
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-concurrency=2',
    '--test-force-exit',
    '--test-timeout=120000',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
