// Layering of src/ (checked by `npm run lint`). Lower layers never import higher ones:
//   core       net, model, ipam, state, threads  pure data, validation, allocation, snapshots; worker supervision
//   protocols  bgp, dataplane, sctp, probes      codecs, planners, state machines and their thin I/O
//   shells     shell, api, k8s                   the runtime and the components around the cores
//   roles      roles                             a role = a list of components (run, agent, controller)
//   entry      main (ferrolb), cli (ferroctl)    argument parsing, process exit codes
// ferroctl is a client: it may read core types, views and formatters, never load a shell or a speaker.
const CORE = '^src/(net|model|ipam|state|threads)/';
const PROTOCOLS = '^src/(bgp|dataplane|sctp|probes|l2|cluster)/';
const SHELLS = '^src/(shell|api|k8s)/';
const ROLES = '^src/roles/';
const ENTRY = '^src/(main|cli)/';

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'core-is-the-bottom',
      severity: 'error',
      from: { path: CORE },
      to: { path: [PROTOCOLS, SHELLS, ROLES, ENTRY] },
    },
    {
      name: 'protocols-below-shells',
      severity: 'error',
      from: { path: PROTOCOLS },
      to: { path: [SHELLS, ROLES, ENTRY] },
    },
    { name: 'shells-below-roles', severity: 'error', from: { path: SHELLS }, to: { path: [ROLES, ENTRY] } },
    { name: 'roles-below-entry', severity: 'error', from: { path: ROLES }, to: { path: ENTRY } },
    {
      name: 'ferroctl-is-a-client',
      comment: 'ferroctl must start fast: no API server, runtime, speaker, data plane or IPAM',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: {
        path: [
          '^src/(shell|roles|main|k8s|ipam|dataplane|probes)/',
          '^src/api/server',
          '^src/bgp/(?!format|types)',
          '^src/sctp/(?!view|engine/types)',
        ],
        dependencyTypesNot: ['type-only'],
      },
    },
    // Folder-level cycles (a ↔ b through different files) are as bad as file cycles: the runtime and
    // its components know nothing of the front doors that feed them (REST, Kubernetes).
    {
      name: 'shell-below-front-doors',
      severity: 'error',
      from: { path: '^src/shell/' },
      to: { path: '^src/(api|k8s)/' },
    },
    {
      name: 'front-doors-independent',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: '^src/k8s/' },
    },
    {
      name: 'front-doors-independent-k8s',
      severity: 'error',
      from: { path: '^src/k8s/' },
      to: { path: '^src/api/' },
    },
    {
      name: 'everything-has-a-layer',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: `${CORE}|${PROTOCOLS}|${SHELLS}|${ROLES}|${ENTRY}` },
      to: {},
    },
    { name: 'no-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a type import is still a dependency of the design.
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
