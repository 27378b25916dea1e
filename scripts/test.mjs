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
// No --test-force-exit: it makes each file's process exit without flushing its report to the runner,
// so under load the last tests of a file went missing from the results without failing. A test
// that never settles fails by the timeout; a file that leaves a handle open after a failure is cut
// off by the overall limit below instead of hanging the run.
const LIMIT_MS = 12 * 60_000;
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-concurrency=2',
    '--test-timeout=120000',
    ...files,
  ],
  { stdio: 'inherit', timeout: LIMIT_MS, killSignal: 'SIGKILL' },
);
if (result.error) console.error(`test run stopped: ${result.error.message}`);
process.exit(result.status ?? 1);
