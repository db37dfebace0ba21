// Durable state: objects and allocations in one JSON file, replaced atomically (write a temp file,
// fsync, rename, fsync the directory), so a crash at any instant leaves either the old or the new
// state on disk — never a torn file, never allocations without the objects they belong to.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Allocation } from '../ipam/allocator.js';
import type { StoredObject } from '../model/types.js';

export const STATE_FILE = 'state.json';
const FORMAT_VERSION = 1;

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

interface FileShape {
  version: number;
  savedAt: string;
  objects: StoredObject[];
  allocations: Record<string, Allocation>;
}

export class StateStore {
  private seq = 0;
  constructor(readonly dir: string) {}

  get path(): string {
    return join(this.dir, STATE_FILE);
  }

  /** undefined when there is no state yet; throws StateFileError when the file is unreadable. */
  async load(): Promise<PersistedState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StateFileError(this.path, (e as Error).message);
    }
    let data: FileShape;
    try {
      data = JSON.parse(text) as FileShape;
    } catch (e) {
      // Refuse to start rather than silently forget every allocation.
      throw new StateFileError(
        this.path,
        `not valid JSON (${(e as Error).message}); move it aside to start empty`,
      );
    }
    if (
      data.version !== FORMAT_VERSION ||
      !Array.isArray(data.objects) ||
      typeof data.allocations !== 'object'
    ) {
      throw new StateFileError(this.path, `unsupported format (version ${String(data.version)})`);
    }
    return { objects: data.objects, allocations: new Map(Object.entries(data.allocations)) };
  }

  async save(state: PersistedState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const body: FileShape = {
      version: FORMAT_VERSION,
      savedAt: new Date().toISOString(),
      objects: [...state.objects],
      allocations: Object.fromEntries(state.allocations),
    };
    const tmp = join(this.dir, `.${STATE_FILE}.${process.pid}.${this.seq++}.tmp`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(body));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}
