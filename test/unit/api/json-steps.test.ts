// The sliced body parser gives what JSON.parse gives (value or error) for any text: arrays, the
// {"objects": [...]} wrapper, nested strings with brackets and escapes, and malformed input.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseJsonSteps } from '../../../src/api/http.js';
import { runSync } from '../../../src/model/steps.js';

const outcome = (f: () => unknown) => {
  try {
    return { ok: true, v: f() };
  } catch (e) {
    return { ok: false, error: (e as Error).name };
  }
};
const same = (text: string) =>
  assert.deepEqual(
    outcome(() => runSync(parseJsonSteps(text))),
    outcome(() => JSON.parse(text) as unknown),
    text.slice(0, 200),
  );

test('property: parseJsonSteps equals JSON.parse on valid bodies', () => {
  fc.assert(
    fc.property(
      fc.array(fc.jsonValue()),
      fc.boolean(),
      fc.constantFrom('', ' ', '\n  '),
      (items, wrap, ws) => {
        const arr = JSON.stringify(items, null, ws ? 1 : undefined);
        same(wrap ? `${ws}{"objects":${ws}${arr}${ws}}${ws}` : `${ws}${arr}${ws}`);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: parseJsonSteps fails where JSON.parse fails (mutated bodies)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.jsonValue(), { minLength: 1 }),
      fc.nat(),
      fc.constantFrom(',', ']', '[', '"', '}', '{', ' ', '\\', 'x', ''),
      (items, at, ch) => {
        const text = JSON.stringify({ objects: items });
        const i = at % text.length;
        same(text.slice(0, i) + ch + text.slice(i + 1));
        const arr = JSON.stringify(items);
        const j = at % arr.length;
        same(arr.slice(0, j) + ch + arr.slice(j));
      },
    ),
    { numRuns: 500 },
  );
});

test('strings with brackets, commas and escaped quotes stay one element', () => {
  same('[{"a":"x,]\\"}["},"[,]",1,  2 ,{"objects":[3]}]');
  same('{"objects":["a\\\\",{"b":"}"}]}');
  same('[]');
  same('{"objects":[]}');
  same('[1,]');
  same('[,1]');
  same('[1 2]');
  same('{"objects":[1],"x":2}');
});
