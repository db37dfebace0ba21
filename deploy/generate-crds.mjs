// Regenerates deploy/crds/ferrolb.io.yaml (and the Helm chart's copy) from the model's schemas.
// Run after `npx tsc -p .`:  node deploy/generate-crds.mjs
import { writeFileSync } from 'node:fs';
import { renderCrds } from '../dist/src/k8s/crdgen.js';

const text = renderCrds();
for (const path of ['deploy/crds/ferrolb.io.yaml', 'deploy/helm/ferrolb/crds/ferrolb.io.yaml'])
  writeFileSync(new URL(`../${path}`, import.meta.url), text);
console.log('wrote deploy/crds/ferrolb.io.yaml and deploy/helm/ferrolb/crds/ferrolb.io.yaml');
