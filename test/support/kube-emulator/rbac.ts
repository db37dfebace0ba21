// Authentication and RBAC authorization as kube-apiserver does them, over the Role/ClusterRole/
// RoleBinding/ClusterRoleBinding objects in the store (loaded from the shipped
// deploy/manifests/rbac.yaml). Bearer tokens name a ServiceAccount (system:serviceaccount:NS:NAME)
// or the admin (system:masters, which RBAC never restricts). Every allowed request records the rule
// that allowed it, so a test can tell which grants a scenario used and which it never needed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Json } from './store.js';

export const ADMIN_TOKEN = 'emulator-admin';
export const RBAC_MANIFEST = join(import.meta.dirname, '../../../../deploy/manifests/rbac.yaml');

export interface UserInfo {
  readonly name: string;
  readonly groups: readonly string[];
}

/** What the authorizer judges (k8s.io/apiserver authorizer.Attributes). */
export interface Attributes {
  readonly user: UserInfo;
  readonly verb: string;
  readonly resourceRequest: boolean;
  readonly path: string;
  readonly apiGroup: string;
  readonly resource: string;
  readonly subresource: string;
  readonly namespace: string;
  readonly name: string;
}

export interface PolicyRule {
  readonly apiGroups?: string[];
  readonly resources?: string[];
  readonly verbs: string[];
  readonly resourceNames?: string[];
  readonly nonResourceURLs?: string[];
}

/** The rule that allowed a request: "ClusterRole/ferrolb-agent" rule #2, through which binding. */
export interface Grant {
  readonly role: string;
  readonly rule: number;
  readonly binding: string;
}

export interface AuthzRecord {
  readonly attrs: Attributes;
  readonly grant: Grant;
}

const SA_PREFIX = 'system:serviceaccount:';

export function serviceAccountToken(namespace: string, name: string): string {
  return `sa.${namespace}.${name}`;
}

/** The user a token authenticates as; undefined: 401. A ServiceAccount's token dies with the SA. */
export function authenticate(
  token: string | undefined,
  saExists: (ns: string, name: string) => boolean,
): UserInfo | undefined {
  if (token === ADMIN_TOKEN)
    return { name: 'emulator-admin', groups: ['system:masters', 'system:authenticated'] };
  const m = token?.match(/^sa\.([^.]+)\.([^.]+)$/);
  if (!m) return undefined;
  const [, ns, name] = m as unknown as [string, string, string];
  if (!saExists(ns, name)) return undefined;
  return {
    name: `${SA_PREFIX}${ns}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
  };
}

const has = (list: readonly string[] | undefined, v: string) =>
  !!list && (list.includes('*') || list.includes(v));

/** rbac/v1 ResourceMatches: "*", the combined "resource/subresource", or "*\/subresource". */
function resourceMatches(rule: PolicyRule, a: Attributes): boolean {
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (a.subresource && r === `*/${a.subresource}`) return true;
  }
  return false;
}

export function ruleAllows(rule: PolicyRule, a: Attributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest)
    return (rule.nonResourceURLs ?? []).some(
      (u) => u === '*' || u === a.path || (u.endsWith('*') && a.path.startsWith(u.slice(0, -1))),
    );
  if (!has(rule.apiGroups, a.apiGroup) || !resourceMatches(rule, a)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(a.name);
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

function subjectMatches(s: Subject, user: UserInfo, bindingNs: string): boolean {
  if (s.kind === 'User') return s.name === user.name;
  if (s.kind === 'Group') return user.groups.includes(s.name);
  if (s.kind === 'ServiceAccount') return user.name === `${SA_PREFIX}${s.namespace ?? bindingNs}:${s.name}`;
  return false;
}

export interface RbacObjects {
  clusterRoles(): Json[];
  clusterRoleBindings(): Json[];
  roles(ns: string): Json[];
  roleBindings(ns: string): Json[];
}

const nameOf = (o: Json) => String(((o.metadata ?? {}) as Json).name ?? '');

// system:discovery and system:public-info-viewer, bound to every authenticated user in a real cluster.
const DISCOVERY = [
  '/api',
  '/api/*',
  '/apis',
  '/apis/*',
  '/version',
  '/healthz',
  '/livez',
  '/readyz',
  '/openapi/*',
];

/**
 * The RBAC authorizer: ClusterRoleBindings first, then the RoleBindings of the request's namespace;
 * the first rule that allows wins. Returns the grant, 'superuser' for system:masters, or undefined.
 */
export function authorize(objs: RbacObjects, a: Attributes): Grant | 'superuser' | undefined {
  if (a.user.groups.includes('system:masters')) return 'superuser';
  if (!a.resourceRequest && a.verb === 'get' && a.user.groups.includes('system:authenticated'))
    if (ruleAllows({ verbs: ['get'], nonResourceURLs: DISCOVERY }, a))
      return {
        role: 'ClusterRole/system:discovery',
        rule: 0,
        binding: 'ClusterRoleBinding/system:discovery',
      };
  const clusterRoles = new Map(objs.clusterRoles().map((r) => [nameOf(r), r]));
  const tryRole = (role: Json | undefined, roleLabel: string, binding: string): Grant | undefined => {
    const rules = ((role?.rules ?? []) as PolicyRule[]) ?? [];
    const i = rules.findIndex((r) => ruleAllows(r, a));
    return i >= 0 ? { role: roleLabel, rule: i, binding } : undefined;
  };
  for (const b of objs.clusterRoleBindings()) {
    if (!((b.subjects ?? []) as Subject[]).some((s) => subjectMatches(s, a.user, ''))) continue;
    const ref = b.roleRef as { kind: string; name: string };
    if (ref.kind !== 'ClusterRole') continue;
    const g = tryRole(
      clusterRoles.get(ref.name),
      `ClusterRole/${ref.name}`,
      `ClusterRoleBinding/${nameOf(b)}`,
    );
    if (g) return g;
  }
  if (!a.namespace) return undefined;
  const roles = new Map(objs.roles(a.namespace).map((r) => [nameOf(r), r]));
  for (const b of objs.roleBindings(a.namespace)) {
    if (!((b.subjects ?? []) as Subject[]).some((s) => subjectMatches(s, a.user, a.namespace))) continue;
    const ref = b.roleRef as { kind: string; name: string };
    const role = ref.kind === 'ClusterRole' ? clusterRoles.get(ref.name) : roles.get(ref.name);
    const label = ref.kind === 'ClusterRole' ? `ClusterRole/${ref.name}` : `Role/${a.namespace}/${ref.name}`;
    const g = tryRole(role, label, `RoleBinding/${a.namespace}/${nameOf(b)}`);
    if (g) return g;
  }
  return undefined;
}

/** kube-apiserver's forbidden message (endpoints/handlers/responsewriters.forbiddenMessage). */
export function forbiddenMessage(a: Attributes): string {
  const who = `User "${a.user.name}"`;
  if (!a.resourceRequest) return `${who} cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const where = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const what = `${who} cannot ${a.verb} resource "${res}" in API group "${a.apiGroup}" ${where}`;
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  return a.name ? `${qualified} "${a.name}" is forbidden: ${what}` : `${qualified} is forbidden: ${what}`;
}

/** The RBAC objects of a manifest file (default: the shipped deploy/manifests/rbac.yaml). */
export function rbacManifest(file = RBAC_MANIFEST): Json[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJSON() as Json | null)
    .filter((o): o is Json => o !== null);
}

/** One thing a rule grants: a verb on a group's resource (within the rule's resourceNames). */
export interface GrantAtom {
  readonly role: string;
  readonly rule: number;
  readonly verb: string;
  readonly apiGroup: string;
  readonly resource: string;
}

export const atomLabel = (g: GrantAtom): string =>
  `${g.role} rule #${g.rule}: ${g.verb} ${g.apiGroup ? `${g.apiGroup}/` : ''}${g.resource}`;

/** Every (verb, group, resource) each rule of these roles grants. */
export function grantAtoms(objects: readonly Json[]): GrantAtom[] {
  const out: GrantAtom[] = [];
  for (const o of objects) {
    if (o.kind !== 'ClusterRole' && o.kind !== 'Role') continue;
    const meta = (o.metadata ?? {}) as Json;
    const role =
      o.kind === 'Role' ? `Role/${String(meta.namespace)}/${nameOf(o)}` : `ClusterRole/${nameOf(o)}`;
    ((o.rules ?? []) as PolicyRule[]).forEach((r, rule) => {
      for (const verb of r.verbs)
        for (const apiGroup of r.apiGroups ?? [''])
          for (const resource of r.resources ?? []) out.push({ role, rule, verb, apiGroup, resource });
    });
  }
  return out;
}

/** The atoms no recorded request used: grants the scenarios never needed. */
export function unusedGrants(objects: readonly Json[], used: readonly AuthzRecord[]): string[] {
  const seen = new Set(
    used.map(({ attrs: a, grant: g }) => {
      const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
      return `${g.role}#${g.rule}|${a.verb}|${a.apiGroup}|${res}`;
    }),
  );
  return grantAtoms(objects)
    .filter((g) => !seen.has(`${g.role}#${g.rule}|${g.verb}|${g.apiGroup}|${g.resource}`))
    .map(atomLabel);
}
