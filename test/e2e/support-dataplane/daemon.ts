// Stand-in for the ferrolb daemon in restart tests: applies the services given as JSON (argv[2]) in
// the namespace it runs in, prints "applied N", then idles until killed (SIGKILL in the test).
import { Applier } from '../../../src/dataplane/applier.js';
import type { DataplaneService } from '../../../src/dataplane/types.js';

const services = JSON.parse(process.argv[2] ?? '[]') as DataplaneService[];
const r = await new Applier().apply(services);
process.stdout.write(`applied ${r.statements}\n`);
setInterval(() => undefined, 60_000);
