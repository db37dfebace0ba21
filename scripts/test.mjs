// Runs the compiled test suites with node's own test runner.
// `node scripts/test.mjs [unit|e2e]` — default: both. E2E tests need root; under CI they must not skip.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const which = process.argv[2];
const dirs = (which ? [which] : ['unit', 'e2e']).map((d) => `dist/test/${d}/`).filter((d) => existsSync(d));
// E2E tests share the kernel (netns, nft); run files one at a time.
const args = ['--test', '--test-concurrency=1', '--test-reporter=spec', ...dirs];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
