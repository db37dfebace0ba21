// The Helm chart, really rendered. No helm binary can be installed here, so scripts/helm-render.sh
// builds tools/helm-render: Helm's own engine (Go text/template + sprig, from Debian's Go packages)
// plus the checks of `helm lint`. Every rendered object is then checked like the plain manifests
// (kube-types.ts). With default values the chart must install what deploy/manifests does, so the two
// cannot drift; with other values it must stay valid and do what the values say.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { CLUSTER_OPTIONS, mappingConfig, parseControllerArgs } from '../../../src/roles/controller.js';
import { AGENT_USAGE } from '../../../src/roles/agent.js';
import { LOG_LEVELS } from '../../../src/shell/log.js';
import {
  type Doc,
  type Obj,
  ofKind,
  parseDocs,
  readManifests,
  typeErrors,
  wiringErrors,
} from './kube-types.js';

const ROOT = join(import.meta.dirname, '../../../..');
const CHART = join(ROOT, 'deploy/helm/ferrolb');
const RENDER = join(ROOT, 'scripts/helm-render.sh');

// Without Go the chart cannot be rendered: a developer's machine may skip; CI must not (setup.sh
// installs Go), so there the render itself fails and says why.
const noGo = spawnSync('go', ['version']).error !== undefined;
const skip = noGo && !process.env.CI ? 'no go compiler: ./setup.sh installs golang-go and sprig' : false;

const run = (args: string[], chart = CHART) =>
  spawnSync('sh', [RENDER, '--name', 'ferrolb', '--namespace', 'ferrolb-system', ...args, chart], {
    encoding: 'utf8',
  });

/** Renders, and checks every object against the API types and the workloads' wiring. */
function render(args: string[] = [], chart = CHART): Doc[] {
  const r = run(args, chart);
  assert.equal(r.status, 0, `helm-render ${args.join(' ')} failed:\n${r.stderr}`);
  assert.match(r.stdout, /^---\n# Source: ferrolb\/(templates|crds)\//);
  const docs = parseDocs(r.stdout, 'chart');
  // Prometheus Operator kinds are not in client-node's types; their own test checks their shape.
  const operator = (d: Doc) => String(d.o.apiVersion).startsWith('monitoring.coreos.com/');
  assert.deepEqual(typeErrors(docs.filter((d) => !operator(d))), []);
  assert.deepEqual(wiringErrors(docs), []);
  return docs;
}

const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;
const workloads = (docs: Doc[]) => [...ofKind(docs, 'Deployment'), ...ofKind(docs, 'DaemonSet')];
const container = (w: Obj): Obj => w.spec.template.spec.containers[0];
const env = (w: Obj, name: string) => container(w).env.find((e: Obj) => e.name === name)?.value;

const AGENT_FLAGS = new Set(AGENT_USAGE.match(/--[a-z-]+/g));

/**
 * What a container's args mean, read by ferrolb's own parsers, so `--lb-class=ferrolb.io/ferrolb` equals
 * leaving the default. Throws on a flag the role does not take.
 */
function meaning(args: string[], namespace: string): Obj {
  const [role, ...rest] = args;
  if (role === 'controller') return { role, ...parseControllerArgs(rest, { POD_NAMESPACE: namespace }) };
  const { values } = parseArgs({ args: rest, options: CLUSTER_OPTIONS, strict: false });
  for (const k of Object.keys(values)) assert.ok(AGENT_FLAGS.has(`--${k}`), `ferrolb agent takes no --${k}`);
  const other = Object.entries(values).filter(([k]) => !(k in CLUSTER_OPTIONS));
  return {
    role,
    config: mappingConfig(values as Parameters<typeof mappingConfig>[0]),
    ...Object.fromEntries(other),
  };
}

/**
 * An object as far as the chart and the manifests must agree. Labels and selectors differ on purpose
 * (the chart adds Helm's instance/version/chart labels; wiringErrors checks selectors select their
 * pods); imagePullPolicy IfNotPresent is Kubernetes' default for a tagged image.
 */
function comparable(o: Obj): Obj {
  const c = structuredClone(o);
  delete c.metadata.labels;
  if (c.kind === 'Service') delete c.spec.selector;
  const pod = c.spec?.template;
  if (pod) {
    delete c.spec.selector;
    delete pod.metadata.labels;
    for (const t of pod.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
      delete t.podAffinityTerm.labelSelector;
    for (const ctr of pod.spec.containers) {
      delete ctr.imagePullPolicy;
      ctr.args = meaning(ctr.args, c.metadata.namespace);
    }
  }
  return c;
}

function drift(chart: Doc[], manifests: Doc[]) {
  const c = new Map(chart.map((d) => [key(d.o), d.o]));
  const m = new Map(manifests.map((d) => [key(d.o), d.o]));
  return {
    onlyChart: [...c.keys()].filter((k) => !m.has(k)).sort(),
    onlyManifests: [...m.keys()].filter((k) => !c.has(k)).sort(),
    differ: [...c.entries()]
      .filter(([k, o]) => m.has(k) && !isDeepStrictEqual(comparable(o), comparable(m.get(k) as Obj)))
      .map(([k, o]) => ({ key: k, chart: comparable(o), manifests: comparable(m.get(k) as Obj) })),
  };
}

/** A copy of the chart to break on purpose. */
function chartCopy(edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-chart-'));
  cpSync(CHART, dir, { recursive: true });
  edit(dir);
  return dir;
}
const editFile = (dir: string, file: string, f: (s: string) => string) => {
  const before = readFileSync(join(dir, file), 'utf8');
  const after = f(before);
  assert.notEqual(after, before, `the edit of ${file} changed nothing`);
  writeFileSync(join(dir, file), after);
};

test('with default values the chart installs what deploy/manifests does', { skip }, () => {
  const chart = render();
  const manifests = readManifests(join(ROOT, 'deploy/manifests'));
  const d = drift(chart, manifests);
  // The namespace comes from `helm install --create-namespace` (or is made beforehand), not the chart.
  // The Layer 2 key Secret only from the chart: static manifests cannot hold a random key (with
  // them it is made by hand, docs/l2.md).
  assert.deepEqual(
    { onlyChart: d.onlyChart, onlyManifests: d.onlyManifests },
    { onlyChart: ['Secret/ferrolb-cluster'], onlyManifests: ['Namespace/ferrolb-system'] },
  );
  for (const x of d.differ)
    assert.deepEqual(x.chart, x.manifests, `${x.key}: the chart and deploy/manifests differ`);
  // Said twice for the reader: the RBAC is the same to the letter, and so is who is bound to what.
  for (const kind of ['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding']) {
    const strip = ({ rules, roleRef, subjects, metadata: { name, namespace } }: Obj) => ({
      name,
      namespace,
      rules,
      roleRef,
      subjects,
    });
    assert.deepEqual(
      ofKind(chart, kind).map(strip).sort(byName),
      ofKind(manifests, kind).map(strip).sort(byName),
    );
  }
});
const byName = (a: Obj, b: Obj) => String(a.name).localeCompare(String(b.name));

test('the drift check catches a chart that no longer matches the manifests', { skip }, () => {
  const dir = chartCopy((d) => {
    editFile(d, 'templates/rbac.yaml', (s) =>
      s.replace('verbs: [get, list, watch, patch]', 'verbs: [get, list, watch]'),
    );
    editFile(d, 'templates/agent.yaml', (s) =>
      s.replace('--state-dir=/var/lib/ferrolb', '--state-dir=/var/lib/x'),
    );
  });
  try {
    const d = drift(render([], dir), readManifests(join(ROOT, 'deploy/manifests')));
    assert.deepEqual(d.differ.map((x) => x.key).sort(), [
      'ClusterRole/ferrolb-controller',
      'DaemonSet/ferrolb-agent',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Which workloads a Service's selector picks, and whether each one has the port it targets. */
function serviceTargets(docs: Doc[], name: string): string[] {
  const svc = ofKind(docs, 'Service').find((o) => o.metadata.name === name) as Obj;
  const port = svc.spec.ports[0].targetPort as string;
  return workloads(docs)
    .filter((w) =>
      Object.entries(svc.spec.selector as Obj).every(([k, v]) => w.spec.template.metadata.labels[k] === v),
    )
    .map((w) => {
      const named = (w.spec.template.spec.containers as Obj[]).some((c) =>
        (c.ports ?? []).some((p: Obj) => p.name === port),
      );
      return `${key(w)}${named ? '' : ` (no port ${port})`}`;
    })
    .sort();
}

test(
  'the metrics Service reaches the controller and every agent, in the chart and the manifests',
  { skip },
  () => {
    const want = ['DaemonSet/ferrolb-agent', 'Deployment/ferrolb-controller'];
    assert.deepEqual(serviceTargets(render(), 'ferrolb-metrics'), want);
    assert.deepEqual(serviceTargets(readManifests(join(ROOT, 'deploy/manifests')), 'ferrolb-metrics'), want);
    for (const w of workloads(render()))
      assert.ok(
        (w.spec.template.spec.containers[0].args as string[]).includes('--metrics-addr=[::]:11112'),
        `${key(w)} serves its metrics`,
      );
  },
);

test(
  'metrics.serviceMonitor.enabled adds a ServiceMonitor that selects the metrics Service',
  { skip },
  () => {
    assert.deepEqual(ofKind(render(), 'ServiceMonitor'), []);
    const docs = render([
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'metrics.serviceMonitor.labels.release=prom',
    ]);
    const [sm] = ofKind(docs, 'ServiceMonitor') as [Obj];
    assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(sm.metadata.labels.release, 'prom');
    const svc = ofKind(docs, 'Service').find((o) => o.metadata.name === 'ferrolb-metrics') as Obj;
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Obj))
      assert.equal(svc.metadata.labels[k], v, k);
    assert.deepEqual(sm.spec.endpoints, [{ port: 'metrics', path: '/metrics', interval: '30s' }]);
  },
);

test('another release name, namespace, image and replica count', { skip }, () => {
  const docs = render([
    ...['--name', 'edge', '--namespace', 'lb-system'],
    ...['--set', 'image.repository=registry.example/ferrolb,image.tag=1.2.3,image.pullPolicy=Always'],
    ...['--set', 'controller.replicas=3'],
  ]);
  const accounts = new Set(ofKind(docs, 'ServiceAccount').map((s) => s.metadata.name));
  for (const { o } of docs) {
    // The key Secret is named by agent.cluster.keySecret (the agents mount that name), not the release.
    if (key(o) !== 'Secret/ferrolb-cluster') assert.match(o.metadata.name, /^edge-/, key(o));
    assert.equal(o.metadata.namespace, o.kind.startsWith('Cluster') ? undefined : 'lb-system', key(o));
    assert.equal(o.metadata.labels['app.kubernetes.io/instance'], 'edge', key(o));
    for (const s of o.subjects ?? []) {
      assert.equal(s.namespace, 'lb-system', key(o));
      assert.ok(accounts.has(s.name), `${key(o)} binds ${s.name}, which is defined`);
    }
  }
  for (const w of workloads(docs)) {
    assert.equal(container(w).image, 'registry.example/ferrolb:1.2.3');
    assert.equal(container(w).imagePullPolicy, 'Always');
  }
  const [controller] = ofKind(docs, 'Deployment') as [Obj];
  assert.equal(controller.spec.replicas, 3);
  // The Lease the controller takes is the one its Role lets it update.
  const { namespace, name } = meaning(container(controller).args, 'lb-system').leaderElection;
  assert.deepEqual({ namespace, name }, { namespace: 'lb-system', name: 'edge-controller' });
  const role = ofKind(docs, 'Role').find((r) => r.metadata.name === 'edge-controller-lease');
  assert.deepEqual(
    role?.rules.flatMap((r: Obj) => r.resourceNames ?? []),
    ['edge-controller'],
  );
});

test('Lease timings reach the controller; impossible ones fail at its flag check', { skip }, () => {
  const args = (set: string) =>
    container(ofKind(render(['--set', set]), 'Deployment')[0] as Obj).args as string[];
  const timings = args(
    'controller.leaderElection.leaseDuration=30s,controller.leaderElection.renewDeadline=20s,controller.leaderElection.retryPeriod=4s',
  );
  const le = meaning(timings, 'ferrolb-system').leaderElection;
  assert.deepEqual([le.leaseDurationMs, le.renewDeadlineMs, le.retryPeriodMs], [30_000, 20_000, 4_000]);
  assert.throws(
    () => meaning(args('controller.leaderElection.leaseDuration=5s'), 'ferrolb-system'),
    /lease-duration: 5000 ms must be longer than --leader-elect-renew-deadline/,
  );
});

test('agent.enabled=false leaves out the DaemonSet and everything only it needs', { skip }, () => {
  const docs = render(['--set', 'agent.enabled=false']);
  assert.deepEqual(
    docs.map((d) => key(d.o)).filter((k) => k.includes('agent')),
    [],
  );
  assert.deepEqual(workloads(docs).map(key), ['Deployment/ferrolb-controller']);
});

test('agent.cluster: the Layer 2 key Secret and --cluster-* flags, or neither', { skip }, () => {
  const agent = (docs: Doc[]) => ofKind(docs, 'DaemonSet')[0] as Obj;
  const clusterArgs = (w: Obj) => (container(w).args as string[]).filter((a) => a.startsWith('--cluster-'));
  const on = agent(
    render([
      '--set',
      'agent.cluster.keySecret=l2-key,agent.cluster.nodes=lb=yes,agent.cluster.family=ipv6',
      '--set',
      'agent.cluster.heartbeat=50ms',
    ]),
  );
  assert.deepEqual(clusterArgs(on), [
    '--cluster-key-file=/etc/ferrolb/cluster/key',
    '--cluster-nodes=lb=yes',
    '--cluster-family=ipv6',
    '--cluster-heartbeat=50ms',
  ]);
  const pod = on.spec.template.spec;
  assert.deepEqual(
    pod.volumes.find((v: Obj) => v.name === 'cluster-key'),
    { name: 'cluster-key', secret: { secretName: 'l2-key', defaultMode: 0o400 } },
  );
  assert.deepEqual(
    container(on).volumeMounts.find((m: Obj) => m.name === 'cluster-key'),
    { name: 'cluster-key', mountPath: '/etc/ferrolb/cluster', readOnly: true },
  );
  const off = agent(render(['--set', 'agent.cluster.enabled=false']));
  assert.deepEqual(clusterArgs(off), []);
  assert.equal(
    off.spec.template.spec.volumes.some((v: Obj) => v.name === 'cluster-key'),
    false,
  );
  const bad = run(['--set', 'agent.cluster.family=ipv5']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /family|ipv5/);
});

test(
  'agent.cluster key Secret: made by the chart (random, kept), from `key`, or left to the user',
  { skip },
  () => {
    const secret = (docs: Doc[]) =>
      ofKind(docs, 'Secret').find((d) => (d.metadata as Obj).name === 'ferrolb-cluster') as Obj | undefined;
    const keyOf = (s: Obj | undefined) => Buffer.from(String((s?.data as Obj).key), 'base64').toString();
    // Default: installing the chart is enough — the agents' Secret exists, its key long enough.
    const made = secret(render());
    assert.ok(made, 'the default render has the cluster key Secret');
    assert.equal((made.metadata as Obj).annotations?.['helm.sh/resource-policy'], 'keep');
    assert.ok(keyOf(made).length >= 32, keyOf(made));
    assert.notEqual(keyOf(secret(render())), keyOf(made), 'random per install');
    const given = 'k'.repeat(40);
    assert.equal(keyOf(secret(render(['--set', `agent.cluster.key=${given}`]))), given);
    assert.equal(secret(render(['--set', 'agent.cluster.createSecret=false'])), undefined);
    assert.equal(secret(render(['--set', 'agent.cluster.enabled=false'])), undefined);
    const short = run(['--set', 'agent.cluster.key=tooshort']);
    assert.notEqual(short.status, 0);
    assert.match(short.stderr, /key/);
  },
);

test('class and compatibility values reach the controller and the agents alike', { skip }, () => {
  const docs = render([
    '--set',
    'controller.loadBalancerClass=example.com/lb,controller.defaultClass=true',
    '--set',
    'controller.loxilbCompat=true,controller.metallbCompat=true,controller.secondaryPools={n2-a,n2-b}',
  ]);
  const want = {
    loadBalancerClass: 'example.com/lb',
    defaultClass: true,
    loxilbCompat: true,
    metallbCompat: true,
    secondaryPools: ['n2-a', 'n2-b'],
  };
  assert.equal(workloads(docs).length, 2);
  for (const w of workloads(docs))
    assert.deepEqual(meaning(container(w).args, 'ferrolb-system').config, want, key(w));
});

test('a values file (-f) and --set null: resources, placement, log level, extra flags', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-values-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(
    file,
    `controller:
  logLevel: debug
  extraArgs: [--metrics-addr=0.0.0.0:11112]
  resources: { limits: { cpu: 500m, memory: 1Gi } }
  nodeSelector: { node-role.kubernetes.io/control-plane: '' }
  tolerations: [{ key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule }]
agent:
  logLevel: warn
  extraArgs: [--bgp-port=1179, --router-id=192.0.2.1]
  nodeSelector: { kubernetes.io/os: linux }
  resources: { requests: { cpu: 200m } }
`,
  );
  try {
    const docs = render(['-f', file, '--set', 'agent.tolerations=null']);
    const [controller] = ofKind(docs, 'Deployment') as [Obj];
    const [agent] = ofKind(docs, 'DaemonSet') as [Obj];
    const cpod = controller.spec.template.spec;
    const apod = agent.spec.template.spec;
    assert.deepEqual(cpod.nodeSelector, { 'node-role.kubernetes.io/control-plane': '' });
    assert.deepEqual(cpod.tolerations, [
      { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    // Maps merge with the chart's defaults, as helm does.
    assert.deepEqual(container(controller).resources, {
      requests: { cpu: '50m', memory: '96Mi' },
      limits: { cpu: '500m', memory: '1Gi' },
    });
    assert.deepEqual(apod.nodeSelector, { 'ferrolb.io/lb-node': 'true', 'kubernetes.io/os': 'linux' });
    assert.equal(apod.tolerations, undefined, 'null removes the default tolerations');
    assert.deepEqual(container(agent).resources, {
      requests: { cpu: '200m', memory: '128Mi' },
      limits: { memory: '512Mi' },
    });
    assert.equal(env(controller, 'FERROLB_LOG_LEVEL'), 'debug');
    assert.equal(env(agent, 'FERROLB_LOG_LEVEL'), 'warn');
    assert.equal(meaning(container(controller).args, 'ferrolb-system').metricsAddr, '0.0.0.0:11112');
    const a = meaning(container(agent).args, 'ferrolb-system');
    assert.deepEqual(
      [a['bgp-port'], a['router-id'], a['state-dir']],
      ['1179', '192.0.2.1', '/var/lib/ferrolb'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--include-crds prints the CRDs deploy/crds installs, and they are valid objects', { skip }, () => {
  const crds = render(['--include-crds']).filter((d) => d.o.kind === 'CustomResourceDefinition');
  const plain = parseDocs(readFileSync(join(ROOT, 'deploy/crds/ferrolb.io.yaml'), 'utf8'), 'crds');
  assert.ok(crds.length > 0);
  assert.deepEqual(
    crds.map((d) => d.o),
    plain.map((d) => d.o),
  );
});

test('the renderer refuses what helm lint or the API server would', { skip }, async (t) => {
  const cases: [string, (dir: string) => void, RegExp, string[]?][] = [
    [
      'a template extension helm does not load',
      (d) => renameSync(join(d, 'templates/agent.yaml'), join(d, 'templates/agent.yaml.gotmpl')),
      /templates\/agent\.yaml\.gotmpl: file extension not valid/,
    ],
    [
      'a chart version that is not SemVer',
      (d) => editFile(d, 'Chart.yaml', (s) => s.replace(/^version: .*$/m, 'version: one')),
      /Chart\.yaml: version "one" is not valid SemVer/,
    ],
    [
      'output that is not YAML (labels indented wrong)',
      (d) => editFile(d, 'templates/controller.yaml', (s) => s.replace('nindent 4', 'nindent 2')),
      /templates\/controller\.yaml \(document 1\): unable to parse YAML/,
    ],
    [
      'a key given twice',
      (d) =>
        editFile(d, 'templates/controller.yaml', (s) =>
          s.replace(/^( {2}replicas: .*)$/m, '$1\n  replicas: 1'),
        ),
      /already defined/,
    ],
    [
      'an object without a name',
      (d) =>
        editFile(d, 'templates/controller.yaml', (s) =>
          s.replace('  name: {{ .Release.Name }}-controller\n', ''),
        ),
      /Deployment has no metadata\.name/,
    ],
    [
      'an include of a template nobody defines',
      (d) => editFile(d, 'templates/agent.yaml', (s) => s.replace('"ferrolb.image"', '"ferrolb.imag"')),
      /no template "ferrolb\.imag"/,
    ],
    [
      'a release name Kubernetes refuses',
      () => {},
      /name "Edge-controller" is not a DNS-1123 subdomain/,
      ['--name', 'Edge'],
    ],
  ];
  for (const [what, edit, error, args] of cases)
    await t.test(what, () => {
      const dir = chartCopy(edit);
      try {
        const r = run(args ?? [], dir);
        assert.notEqual(r.status, 0, `rendered anyway:\n${r.stdout}`);
        assert.match(r.stderr, error);
        assert.equal(r.stdout, '', 'nothing is printed when anything is wrong');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
});

test(
  'values.schema.json: values the chart cannot use fail to render, naming the value',
  { skip },
  async (t) => {
    const cases: [string, string[], RegExp][] = [
      [
        'a replica count that is not a number',
        ['--set', 'controller.replicas=abc'],
        /- controller\.replicas: Invalid type\. Expected: integer, given: string/,
      ],
      [
        'a log level ferrolb does not know',
        ['--set', 'controller.logLevel=verbose'],
        /- controller\.logLevel: controller\.logLevel must be one of the following: "trace"/,
      ],
      ['an agent log level ferrolb does not know', ['--set', 'agent.logLevel=loud'], /- agent\.logLevel: /],
      ['a misspelt key', ['--set', 'controler.replicas=3'], /Additional property controler is not allowed/],
      [
        'a lease duration that is not a Go duration',
        ['--set', 'controller.leaderElection.leaseDuration=15sec'],
        /- controller\.leaderElection\.leaseDuration: Does not match pattern/,
      ],
    ];
    for (const [what, args, error] of cases)
      await t.test(what, () => {
        const r = run(args);
        assert.notEqual(r.status, 0, `rendered anyway:\n${r.stdout}`);
        assert.match(
          r.stderr,
          /values don't meet the specifications of the schema\(s\) in the following chart\(s\):\nferrolb:/,
        );
        assert.match(r.stderr, error);
        assert.equal(r.stdout, '');
      });
    await t.test('good values render', () => {
      render([
        '--set',
        'controller.replicas=3',
        '--set',
        'controller.logLevel=debug',
        '--set',
        'controller.leaderElection.leaseDuration=20s',
      ]);
    });
    await t.test("the schema's log levels are ferrolb's", () => {
      const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
      assert.deepEqual(schema.definitions.logLevel.enum, [...LOG_LEVELS]);
    });
  },
);
