// Multi-document YAML (or JSON) → raw objects. Syntax errors become ConfigIssues with line numbers.
// Plain input takes the fast path (yamlfast.ts); the rest, and every error, the `yaml` package's.
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { ValidationError, type ConfigIssue } from './issues.js';
import type { RawObject } from './types.js';
import { countIssues, LIMITS } from './limits.js';
import { fastDocuments, fastDocumentsSteps } from './yamlfast.js';
import { runSliced, type Steps } from './steps.js';

export interface ParsedDocuments {
  readonly objects: RawObject[];
  readonly issues: ConfigIssue[];
}

export function parseDocuments(text: string, source = 'input'): ParsedDocuments {
  try {
    return parse(text, source, fastDocuments(text));
  } catch (e) {
    return unparsable(source, e);
  }
}

/**
 * parseDocuments in steps, for texts of thousands of objects on a loop that serves others (an API
 * body, a SIGHUP reload): plain YAML is read a chunk of documents per step. Same result; the rest
 * (anchors, errors) takes the `yaml` path in one piece as parseDocuments does.
 */
export function* parseDocumentsSteps(text: string, source = 'input'): Steps<ParsedDocuments> {
  let fast: unknown[] | undefined;
  try {
    fast = yield* fastDocumentsSteps(text);
  } catch {
    fast = undefined;
  }
  try {
    return parse(text, source, fast);
  } catch (e) {
    return unparsable(source, e);
  }
}

/** The parser itself gave up (e.g. nesting deep enough to exhaust the stack): a 4xx, not a crash. */
function unparsable(source: string, e: unknown): ParsedDocuments {
  return {
    objects: [],
    issues: [
      {
        object: source,
        field: '',
        value: undefined,
        message: `cannot be parsed: ${e instanceof RangeError ? 'nested too deeply' : (e as Error).message}`,
      },
    ],
  };
}

/** A document's value → objects: a JSON array or a Kubernetes List counts as several documents. */
function addObjects(objects: RawObject[], value: unknown): void {
  if (value === null || value === undefined) return; // empty document (e.g. trailing ---)
  const list = Array.isArray(value)
    ? value
    : typeof value === 'object' &&
        (value as RawObject).kind === 'List' &&
        Array.isArray((value as RawObject).items)
      ? ((value as RawObject).items as unknown[])
      : undefined;
  if (!list) objects.push(value as RawObject);
  // One by one: push(...list) of 100k objects would overflow the stack.
  else for (const o of list) objects.push(o as RawObject);
}

function parse(text: string, source: string, fast: unknown[] | undefined): ParsedDocuments {
  const objects: RawObject[] = [];
  const issues: ConfigIssue[] = [];
  if (fast) {
    if (fast.length > LIMITS.objects) return { objects, issues: countIssues(fast.length) };
    for (const value of fast) addObjects(objects, value);
    if (objects.length > LIMITS.objects) return { objects: [], issues: countIssues(objects.length) };
    return { objects, issues };
  }
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.length > LIMITS.objects) return { objects, issues: countIssues(list.length) };
  list.forEach((doc, i) => {
    const object = `${source} document ${i + 1}`;
    for (const e of doc.errors) {
      const line = e.linePos?.[0]?.line;
      issues.push({
        object,
        field: line ? `line ${line}` : '',
        value: undefined,
        message: e.message.split('\n')[0] ?? e.message,
      });
    }
    if (doc.errors.length > 0) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: LIMITS.yamlAliases });
    } catch (e) {
      // yaml refuses alias bombs ("Excessive alias count ...") here.
      issues.push({ object, field: '', value: undefined, message: (e as Error).message });
      return;
    }
    addObjects(objects, value);
  });
  if (issues.length === 0 && objects.length > LIMITS.objects)
    return { objects: [], issues: countIssues(objects.length) };
  return { objects, issues };
}

/** Reads and parses a config file; throws ValidationError on syntax errors, plain Error on I/O errors. */
export async function loadConfigFile(path: string): Promise<RawObject[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  // In steps: a SIGHUP reload of a 10k-service file shares the loop with the API and probes.
  const parsed = await runSliced(parseDocumentsSteps(text, path));
  if (parsed.issues.length > 0) throw new ValidationError(parsed.issues);
  return parsed.objects;
}
