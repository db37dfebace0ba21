// The emulator's RBAC authorizer against the rules of k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac:
// verbs, groups, "resource/subresource" and "*/subresource", resourceNames, RoleBinding scope.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  authenticate,
  authorize,
  forbiddenMessage,
  grantAtoms,
  ruleAllows,
  unusedGrants,
  type Attributes,
  type RbacObjects,
} from '../../support/kube-emulator/rbac.js';
import type { Json } from '../../support/kube-emulator/store.js';

const sa = authenticate('sa.ns.bot', () => true);
assert.ok(sa);
const req = (o: Partial<Attributes>): Attributes => ({
  user: sa,
  verb: 'get',
  resourceRequest: true,
  path: '/x',
  apiGroup: '',
  resource: 'services',
  subresource: '',
  namespace: 'default',
  name: '',
  ...o,
});

describe('emulator RBAC authorizer', () => {
  it('matches verbs, groups, subresources and resource names as RBAC does', () => {
    const rule = { apiGroups: [''], resources: ['services'], verbs: ['get', 'list'] };
    assert.ok(ruleAllows(rule, req({})));
    assert.ok(!ruleAllows(rule, req({ verb: 'patch' })));
    assert.ok(!ruleAllows(rule, req({ apiGroup: 'apps' })));
    assert.ok(!ruleAllows(rule, req({ subresource: 'status' })), 'services does not grant services/status');
    assert.ok(ruleAllows({ ...rule, resources: ['*/status'] }, req({ subresource: 'status' })));
    assert.ok(ruleAllows({ ...rule, resources: ['*'] }, req({ subresource: 'status' })));
    assert.ok(ruleAllows({ ...rule, verbs: ['*'] }, req({ verb: 'delete' })));
    const named = { ...rule, resourceNames: ['web'] };
    assert.ok(ruleAllows(named, req({ name: 'web' })));
    assert.ok(!ruleAllows(named, req({ name: 'other' })));
    assert.ok(!ruleAllows(named, req({ verb: 'list' })), 'a list names no object');
  });

  it('a RoleBinding grants in its namespace only, also when it refers to a ClusterRole', () => {
    const objs: RbacObjects = {
      clusterRoles: () => [
        {
          metadata: { name: 'reader' },
          rules: [{ apiGroups: [''], resources: ['services'], verbs: ['get'] }],
        },
      ],
      clusterRoleBindings: () => [],
      roles: () => [],
      roleBindings: (ns) =>
        ns === 'team'
          ? [
              {
                metadata: { name: 'b', namespace: 'team' },
                roleRef: { kind: 'ClusterRole', name: 'reader' },
                subjects: [{ kind: 'ServiceAccount', name: 'bot', namespace: 'ns' }],
              },
            ]
          : [],
    };
    assert.deepEqual(authorize(objs, req({ namespace: 'team' })), {
      role: 'ClusterRole/reader',
      rule: 0,
      binding: 'RoleBinding/team/b',
    });
    assert.equal(authorize(objs, req({ namespace: 'default' })), undefined);
    assert.equal(authorize(objs, req({ namespace: '' })), undefined, 'not at the cluster scope');
    const admin = authenticate('emulator-admin', () => false);
    assert.ok(admin);
    assert.equal(authorize(objs, req({ user: admin })), 'superuser');
    assert.equal(
      authenticate('sa.ns.gone', () => false),
      undefined,
      "a deleted ServiceAccount's token is refused",
    );
  });

  it('words a refusal as kube-apiserver does', () => {
    assert.equal(
      forbiddenMessage(
        req({ verb: 'list', apiGroup: 'ferrolb.io', resource: 'ipaddresspools', namespace: '' }),
      ),
      'ipaddresspools.ferrolb.io is forbidden: User "system:serviceaccount:ns:bot" cannot list resource "ipaddresspools" in API group "ferrolb.io" at the cluster scope',
    );
    assert.equal(
      forbiddenMessage(req({ verb: 'patch', subresource: 'status', name: 'web' })),
      'services "web" is forbidden: User "system:serviceaccount:ns:bot" cannot patch resource "services/status" in API group "" in the namespace "default"',
    );
  });

  it('names every grant no request used', () => {
    const role: Json = {
      kind: 'ClusterRole',
      metadata: { name: 'r' },
      rules: [{ apiGroups: [''], resources: ['services', 'nodes'], verbs: ['list', 'watch'] }],
    };
    assert.equal(grantAtoms([role]).length, 4);
    const used = [{ attrs: req({ verb: 'list' }), grant: { role: 'ClusterRole/r', rule: 0, binding: 'x' } }];
    assert.deepEqual(unusedGrants([role], used), [
      'ClusterRole/r rule #0: list nodes',
      'ClusterRole/r rule #0: watch services',
      'ClusterRole/r rule #0: watch nodes',
    ]);
  });
});
