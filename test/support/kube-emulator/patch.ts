// Merge patch (RFC 7386; also used for strategic merge, which is close enough for our objects) and
// JSON patch (RFC 6902: add, replace, remove, test) applied to plain JSON.
import { ApiError, clone, type Json } from './store.js';

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Json =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const unescape = (s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~');

export function applyJsonPatch(doc: Json, ops: unknown[]): Json {
  const root = clone(doc);
  for (const raw of ops) {
    const op = raw as { op: string; path: string; value?: unknown };
    const parts = op.path.split('/').slice(1).map(unescape);
    const last = parts.pop();
    if (last === undefined) throw new ApiError(422, 'Invalid', `json patch: bad path ${op.path}`);
    let parent: unknown = root;
    for (const p of parts) {
      parent = (parent as Record<string, unknown>)?.[p];
      if (parent === null || typeof parent !== 'object')
        throw new ApiError(422, 'Invalid', `json patch: path ${op.path} does not exist`);
    }
    const container = parent as Record<string, unknown>;
    const isArray = Array.isArray(container);
    const arr = container as unknown as unknown[];
    switch (op.op) {
      case 'add':
        if (isArray) arr.splice(last === '-' ? arr.length : Number(last), 0, clone(op.value));
        else container[last] = clone(op.value);
        break;
      case 'replace':
        if (!(last in container)) throw new ApiError(422, 'Invalid', `json patch: ${op.path} does not exist`);
        container[last] = clone(op.value);
        break;
      case 'remove':
        if (!(last in container)) throw new ApiError(422, 'Invalid', `json patch: ${op.path} does not exist`);
        if (isArray) arr.splice(Number(last), 1);
        else delete container[last];
        break;
      case 'test':
        if (JSON.stringify(container[last]) !== JSON.stringify(op.value))
          throw new ApiError(422, 'Invalid', `json patch: test failed at ${op.path}`);
        break;
      default:
        throw new ApiError(422, 'Invalid', `json patch: unsupported op ${op.op}`);
    }
  }
  return root;
}
