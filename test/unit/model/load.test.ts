import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAllDocuments, stringify } from 'yaml';
import { parseDocuments, parseDocumentsSteps } from '../../../src/model/load.js';
import { fastDocuments, fastDocumentsSteps } from '../../../src/model/yamlfast.js';
import { runSync } from '../../../src/model/steps.js';

/** What the `yaml` package alone makes of the text (the reference the fast path must equal). */
const reference = (text: string) =>
  parseAllDocuments(text, { uniqueKeys: true }).map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS();
  });

test('plain scalars resolve exactly as the yaml package resolves them (YAML 1.2 core)', () => {
  const scalars = [
    '1',
    '+12',
    '-0',
    '012',
    '0o17',
    '0o19',
    '0x1F',
    '0x1g',
    '-0x1F',
    '1_000',
    '0b101',
    '1e3',
    '1E-2',
    '1.',
    '.5',
    '-.5',
    '1.0e+5',
    '1.5.2',
    '.inf',
    '-.Inf',
    '+.INF',
    '.NaN',
    '.nan',
    'nan',
    'inf',
    '12345678901234567890',
    'yes',
    'no',
    'on',
    'off',
    'y',
    'True',
    'TRUE',
    'tRUE',
    'false',
    '~',
    'null',
    'Null',
    'NULL',
    'nULL',
    '2020-01-01',
    '2001-12-14t21:59:43.10-05:00',
    '1:20',
    '10.0.0.1',
    '10.0.0.0/8',
    'fd00::1',
    '100ms',
    '"quoted 1"',
    "'1'",
    '"true"',
    'a b',
    'x:y',
    '<<',
  ];
  const text = scalars.map((s, i) => `k${i}: ${s}\n`).join('') + 'empty:\nlist: [1, 0x10, true, ~, ]\n';
  const fast = fastDocuments(text);
  assert.ok(fast, 'plain text takes the fast path');
  assert.deepStrictEqual(fast, reference(text));
});

test('generated documents: the fast path equals the yaml package (block and flow style)', () => {
  const key = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('80', 'true', 'null', '1.5', 'a b'));
  const leaf = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.integer(),
    fc.double({ noNaN: false }),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom('0x10', '1_000', 'yes', '~', '.inf', '0o7', '012', '1e3', '-', '# x', 'a: b', '- a'),
  );
  const value = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(key, tie('v'), { maxKeys: 4 }),
    ),
  })).v;
  let fastRuns = 0;
  fc.assert(
    fc.property(fc.array(value, { minLength: 1, maxLength: 3 }), fc.boolean(), (docs, flow) => {
      const text = docs.map((d) => stringify(d, flow ? { collectionStyle: 'flow' } : {})).join('---\n');
      const ref = reference(text);
      const fast = fastDocuments(text);
      // Text with a token-initial &, * or ! (quoted inside a string) may go the slow way: same result.
      if (fast) {
        fastRuns++;
        assert.deepStrictEqual(fast, ref, text);
      }
      assert.deepStrictEqual(
        parseDocuments(text).objects.length,
        ref.flatMap((d) => (d === null ? [] : Array.isArray(d) ? d : [d])).length,
      );
    }),
    { numRuns: 300 },
  );
  assert.ok(fastRuns > 150, `only ${fastRuns} of 300 took the fast path`);
});

test('anchors, aliases, tags and directives take the yaml path (its alias limit still applies)', () => {
  for (const text of [
    'a: &x {b: 1}\nc: *x\n',
    'a: !!str 1\n',
    '%YAML 1.1\n---\na: yes\n',
    'a: [*x]\n',
    'a: !custom b\n',
  ])
    assert.equal(fastDocuments(text), undefined, text);
  const anchors = parseDocuments('a: &x {b: 1}\nc: *x\n');
  assert.deepEqual(anchors.objects, [{ a: { b: 1 }, c: { b: 1 } }]);
  // YAML 1.1 booleans only under the directive, as before.
  assert.deepEqual(parseDocuments('%YAML 1.1\n---\na: yes\n').objects, [{ a: true }]);
  assert.deepEqual(parseDocuments('a: yes\n').objects, [{ a: 'yes' }]);
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 0; i < 8; i++)
    bomb.push(
      `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(97 + i)}`)
        .join(', ')}]`,
    );
  const r = parseDocuments(bomb.join('\n') + '\n');
  assert.equal(r.objects.length, 0);
  assert.match(r.issues[0]?.message ?? '', /alias/i);
});

test('errors come from the yaml path: line numbers, duplicate keys', () => {
  const dup = parseDocuments('kind: LoadBalancer\nmetadata: {name: a}\nkind: Pool\n', 'f.yaml');
  assert.equal(dup.objects.length, 0);
  assert.equal(dup.issues.length, 1);
  assert.equal(dup.issues[0]?.object, 'f.yaml document 1');
  assert.equal(dup.issues[0]?.field, 'line 3');
  assert.match(dup.issues[0]?.message ?? '', /unique/i);
  const syntax = parseDocuments('a: 1\n---\nb: [1, 2\nc: 3\n', 'f.yaml');
  assert.equal(syntax.issues.length, 1);
  assert.equal(syntax.issues[0]?.object, 'f.yaml document 2');
  assert.equal(syntax.issues[0]?.field, 'line 4');
  // What js-yaml refuses, `yaml` refuses too, with its message.
  for (const bad of ['k: -\n', 'k: ::\n']) {
    assert.equal(fastDocuments(bad), undefined);
    assert.equal(parseDocuments(bad).issues[0]?.field, 'line 1', bad);
  }
  // Nesting deep enough to exhaust a recursive parser's stack: a clear issue, not a crash.
  const deep = parseDocuments('['.repeat(200_000));
  assert.equal(deep.objects.length, 0);
  assert.ok(deep.issues.length > 0);
});

test('a JSON array or List of 100k objects is taken (no spread onto the stack), more is refused', () => {
  const many = JSON.stringify(Array.from({ length: 100_000 }, (_, i) => ({ kind: 'X', i })));
  const r = parseDocuments(many);
  assert.deepEqual(r.issues, []);
  assert.equal(r.objects.length, 100_000);
  assert.deepEqual(r.objects[99_999], { kind: 'X', i: 99_999 });
  const list = parseDocuments(`kind: List\nitems: [{a: 1}, {a: 2}]\n---\n{a: 3}\n---\n`);
  assert.deepEqual(list.objects, [{ a: 1 }, { a: 2 }, { a: 3 }]);
  const over = parseDocuments(JSON.stringify(Array.from({ length: 100_001 }, () => ({}))));
  assert.equal(over.objects.length, 0);
  assert.match(over.issues[0]?.message ?? '', /too many objects/);
});

test('sliced reading (API bodies, SIGHUP): any chunk size gives the documents of one whole read', () => {
  const leaf = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    // A marker inside a scalar is indented or quoted by the writer: never a split point.
    fc.constantFrom('---', '--- a', 'x\n---\ny', '...', '- a', 'a: b'),
  );
  const value = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 6 }), tie('v'), { maxKeys: 3 }),
    ),
  })).v;
  fc.assert(
    fc.property(
      fc.array(value, { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 60 }),
      (docs, flow, chunk) => {
        const text = docs.map((d) => stringify(d, flow ? { collectionStyle: 'flow' } : {})).join('---\n');
        assert.deepStrictEqual(runSync(fastDocumentsSteps(text, chunk)), fastDocuments(text), text);
      },
    ),
    { numRuns: 300 },
  );
});

test('parseDocumentsSteps: a 2,000-object file in many slices, the same objects and errors as parseDocuments', () => {
  const text = Array.from(
    { length: 2000 },
    (_, i) =>
      `kind: LoadBalancer\nmetadata: {name: svc-${i}}\nspec: {endpoints: [{address: 10.0.${i >> 8}.${i & 255}}]}\n`,
  ).join('---\n');
  const steps = parseDocumentsSteps(text, 'body');
  let slices = 0;
  let r = steps.next();
  for (; !r.done; r = steps.next()) slices++;
  assert.ok(slices > 3, `${slices} slices`);
  assert.deepStrictEqual(r.value, parseDocuments(text, 'body'));
  const bad = text + '---\nkind: [\n';
  assert.deepStrictEqual(runSync(parseDocumentsSteps(bad, 'body')), parseDocuments(bad, 'body'));
  assert.ok(parseDocuments(bad, 'body').issues.length > 0);
});
