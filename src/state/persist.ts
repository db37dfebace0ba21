// Durable state: objects and allocations in one JSON file, replaced atomically (write a temp file,
// fsync, rename, fsync the directory), so a crash at any instant leaves either the old or the new
// state on disk — never a torn file, never allocations without the objects they belong to.
//
// Fail closed: a file whose content is wrong (shape, addresses, references) refuses the start rather
// than silently re-allocating; an "initialised" marker written with the first state makes a missing
// state.json an error (a lost file must not look like a first start).
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Allocation } from '../ipam/allocator.js';
import { tryParseIp } from '../net/ip.js';
import { ORIGINS, type StoredObject } from '../model/types.js';

export const STATE_FILE = 'state.json';
/** Written next to state.json once the first state is durable. */
export const MARKER_FILE = 'initialised';
const FORMAT_VERSION = 1;
const TMP_RE = /^\.state\.json\..*\.tmp$/;

export interface PersistedState {
  readonly objects: readonly StoredObject[];
  readonly allocations: ReadonlyMap<string, Allocation>;
}

export class StateFileError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`state file ${path}: ${reason}`);
    this.name = 'StateFileError';
  }
}

/** A change was valid but could not be made durable (disk full, I/O error): nothing changed. */
export class PersistError extends Error {
  constructor(override readonly cause: Error) {
    super(
      `state could not be saved (${(cause as NodeJS.ErrnoException).code ?? cause.message}); nothing was changed`,
    );
    this.name = 'PersistError';
  }
}

interface FileShape {
  version: number;
  savedAt: string;
  objects: StoredObject[];
  allocations: Record<string, Allocation>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Structural checks of a parsed state file; every problem, each naming where it is. */
export function stateFileProblems(data: unknown): string[] {
  if (!isPlainObject(data)) return ['the top level must be an object'];
  const out: string[] = [];
  if (data.version !== FORMAT_VERSION)
    out.push(`unsupported format version ${JSON.stringify(data.version)} (expected ${FORMAT_VERSION})`);
  if (!Array.isArray(data.objects)) out.push(`"objects" must be an array, got ${kindOf(data.objects)}`);
  else
    data.objects.forEach((s: unknown, i) => {
      if (!isPlainObject(s) || !ORIGINS.includes(s.origin as never) || !isPlainObject(s.object))
        out.push(`objects[${i}] must be {origin: ${ORIGINS.join('|')}, object: {...}}`);
    });
  if (!isPlainObject(data.allocations))
    out.push(`"allocations" must be a map of service name to allocation, got ${kindOf(data.allocations)}`);
  else
    for (const [name, a] of Object.entries(data.allocations)) {
      const where = `allocations[${JSON.stringify(name)}]`;
      if (!isPlainObject(a) || !Array.isArray(a.addresses) || !Array.isArray(a.secondaryAddresses)) {
        out.push(`${where} must be {addresses: [...], secondaryAddresses: [...]}`);
        continue;
      }
      for (const x of [...(a.addresses as unknown[]), ...(a.secondaryAddresses as unknown[])])
        if (typeof x !== 'string' || !tryParseIp(x))
          out.push(`${where}: ${JSON.stringify(x)} is not an IP address`);
    }
  return out;
}

const kindOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : v === undefined ? 'nothing' : typeof v;

export class StateStore {
  private seq = 0;
  /** Serialised form of the last state written or read: an unchanged state is not rewritten. */
  private lastWritten: string | undefined;
  constructor(readonly dir: string) {}

  get path(): string {
    return join(this.dir, STATE_FILE);
  }

  get markerPath(): string {
    return join(this.dir, MARKER_FILE);
  }

  /** Removes temp files a crash or a failed write left behind. */
  async cleanTemp(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    const tmp = names.filter((n) => TMP_RE.test(n));
    await Promise.all(tmp.map((n) => rm(join(this.dir, n), { force: true })));
    return tmp.length;
  }

  /**
   * undefined when the directory has never held state; throws StateFileError when the file is
   * unreadable, malformed, or missing although the directory was initialised.
   */
  async load(): Promise<PersistedState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new StateFileError(this.path, (e as Error).message);
      const marker = await stat(this.markerPath).catch(() => undefined);
      if (marker)
        throw new StateFileError(
          this.path,
          `missing, but ${this.dir} was initialised (${this.markerPath}, ${marker.mtime.toISOString()}); refusing to start empty, which would hand every address out anew. Restore the file, or to start fresh deliberately remove ${this.markerPath}`,
        );
      return undefined;
    }
    let data: unknown;
    try {
      data = JSON.parse(text) as unknown;
    } catch (e) {
      // Refuse to start rather than silently forget every allocation.
      throw new StateFileError(
        this.path,
        `not valid JSON (${(e as Error).message}); restore it, or to start fresh deliberately move it aside and remove ${this.markerPath}`,
      );
    }
    const problems = stateFileProblems(data);
    if (problems.length > 0)
      throw new StateFileError(
        this.path,
        `${problems.slice(0, 10).join('; ')}${problems.length > 10 ? `; ... (${problems.length} problems)` : ''}`,
      );
    const f = data as FileShape;
    this.lastWritten = serialise(f.objects, new Map(Object.entries(f.allocations)));
    return { objects: f.objects, allocations: new Map(Object.entries(f.allocations)) };
  }

  /** Whether the marker exists (the directory has held state before). */
  async initialised(): Promise<boolean> {
    return (await stat(this.markerPath).catch(() => undefined)) !== undefined;
  }

  /**
   * Writes the state durably; a no-op when it equals what was last read or written. A failed write
   * (ENOSPC, EIO) removes its temp file and leaves the previous state.json as it was.
   */
  async save(state: PersistedState): Promise<boolean> {
    const payload = serialise(state.objects, state.allocations);
    if (payload === this.lastWritten) {
      if (!(await this.initialised())) await this.mark();
      return false;
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.${STATE_FILE}.${process.pid}.${this.seq++}.tmp`);
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(
          `{"version":${FORMAT_VERSION},"savedAt":${JSON.stringify(new Date().toISOString())},${payload}}`,
        );
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw e;
    }
    this.lastWritten = payload;
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    if (!(await this.initialised())) await this.mark();
    return true;
  }

  private async mark(): Promise<void> {
    const fh = await open(this.markerPath, 'w', 0o600);
    try {
      await fh.writeFile(`ferrolb state directory, first state written ${new Date().toISOString()}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

/**
 * `"objects":[...],"allocations":{...}` with each object's JSON memoised by identity: a change
 * re-serialises the objects it touched, the rest is concatenation.
 */
const objectJson = new WeakMap<StoredObject, string>();
const allocationJson = new WeakMap<Allocation, string>();
function serialise(objects: readonly StoredObject[], allocations: ReadonlyMap<string, Allocation>): string {
  const parts: string[] = [];
  for (const s of objects) {
    let j = objectJson.get(s);
    if (j === undefined) objectJson.set(s, (j = JSON.stringify({ origin: s.origin, object: s.object })));
    parts.push(j);
  }
  const allocs: string[] = [];
  for (const [name, a] of allocations) {
    let j = allocationJson.get(a);
    if (j === undefined)
      allocationJson.set(
        a,
        (j = JSON.stringify({ addresses: a.addresses, secondaryAddresses: a.secondaryAddresses })),
      );
    allocs.push(`${JSON.stringify(name)}:${j}`);
  }
  return `"objects":[${parts.join(',')}],"allocations":{${allocs.join(',')}}`;
}
