// Durable state: a base file (state.json, replaced atomically: temp file, fsync, rename, fsync the
// directory) plus an append-only journal (state.journal) with one line per change — the objects and
// allocations that change touched — fsynced before the change is acknowledged. A change therefore
// writes O(change) bytes, not the whole state; the journal is folded into a new base once it grows
// past the base's size (amortised O(1) per change). Every line carries a sequence number and the base
// records the last one it contains, so a crash at any instant (mid-append, between a new base and the
// journal's truncation) leaves a state that loads: a torn last line was never acknowledged and is
// dropped; anything else that does not parse refuses the start.
//
// Fail closed: a file whose content is wrong (shape, addresses, references) refuses the start rather
// than silently re-allocating; an "initialised" marker written with the first state makes a missing
// state.json an error (a lost file must not look like a first start).
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Allocation } from '../ipam/allocator.js';
import type { StoredObject } from '../model/types.js';
import { runSliced } from '../model/steps.js';
import {
  delta,
  FORMAT_VERSION,
  indexOf,
  recordLine,
  replayJournal,
  serialise,
  stateFileProblems,
  type DeltaHint,
  type Durable,
  type JournalRecord,
} from './journal.js';

export { stateFileProblems } from './journal.js';

export const STATE_FILE = 'state.json';
/** Written next to state.json once the first state is durable. */
export const MARKER_FILE = 'initialised';
export const JOURNAL_FILE = 'state.journal';
/** The journal is folded into a new base once it is larger than this and than the base itself. */
const MIN_COMPACT_BYTES = 1 << 20;
const TMP_RE = /^\.state\.json\..*\.tmp$/;

export interface PersistedState {
  readonly objects: readonly StoredObject[];
  readonly allocations: ReadonlyMap<string, Allocation>;
  /** The objects by "Kind/name" (the snapshot has it): spares the store building it. */
  readonly index?: ReadonlyMap<string, StoredObject>;
  /** This state's generation and what it changed since `changes.since` (spares a whole comparison). */
  readonly generation?: number;
  readonly changes?: { readonly since: number } & DeltaHint;
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
  /** Last journal sequence number folded into this base (absent: 0). */
  seq?: number;
  objects: StoredObject[];
  allocations: Record<string, Allocation>;
}

export class StateStore {
  private seq = 0;
  private tmpSeq = 0;
  /** What is on disk now (base + journal), by identity: the next save writes only the difference. */
  private durable: Durable | undefined;
  /** The generation `durable` is (when the caller says), for save()'s change hints. */
  private durableGeneration: number | undefined;
  private baseBytes = 0;
  private journalBytes = 0;
  /** The journal's tail is not known to be clean (a failed append): the next save writes a base. */
  private journalSuspect = false;
  private readonly compactBytes: number;
  constructor(
    readonly dir: string,
    opts: { compactBytes?: number } = {},
  ) {
    this.compactBytes = opts.compactBytes ?? MIN_COMPACT_BYTES;
  }

  get path(): string {
    return join(this.dir, STATE_FILE);
  }

  get journalPath(): string {
    return join(this.dir, JOURNAL_FILE);
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
   * undefined when the directory has never held state; throws StateFileError when the files are
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
    const index = indexOf(f.objects);
    const allocations = new Map(Object.entries(f.allocations));
    this.baseBytes = Buffer.byteLength(text);
    this.seq = typeof f.seq === 'number' ? f.seq : 0;
    await this.replay(index, allocations);
    this.durable = { index, allocations };
    return { objects: [...index.values()], allocations, index };
  }

  private async replay(
    index: Map<string, StoredObject>,
    allocations: Map<string, Allocation>,
  ): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.journalPath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new StateFileError(this.journalPath, (e as Error).message);
    }
    this.journalBytes = Buffer.byteLength(text);
    try {
      const r = replayJournal(text, this.seq, index, allocations);
      this.seq = r.seq;
      if (r.tornTail) this.journalSuspect = true;
    } catch (e) {
      throw new StateFileError(this.journalPath, (e as Error).message);
    }
  }

  /** Whether the marker exists (the directory has held state before). */
  async initialised(): Promise<boolean> {
    return (await stat(this.markerPath).catch(() => undefined)) !== undefined;
  }

  /**
   * Makes the state durable: appends the difference to what is on disk (or writes a new base when
   * there is no journal yet, it grew large, or its tail is suspect). No-op when nothing changed.
   * A failed write (ENOSPC, EIO) leaves the files as they were (temp removed, append cut back).
   */
  async save(state: PersistedState): Promise<boolean> {
    const index = state.index ?? indexOf(state.objects);
    const next: Durable = { index, allocations: state.allocations };
    const last = this.durable;
    const limit = Math.max(this.compactBytes, this.baseBytes);
    // The hint holds only against the very state it was made from.
    const hint =
      state.changes && this.durableGeneration !== undefined && state.changes.since === this.durableGeneration
        ? state.changes
        : undefined;
    const rec = last ? delta(last, next, this.seq + 1, hint) : undefined;
    if (
      rec &&
      rec.set.length === 0 &&
      rec.del.length === 0 &&
      Object.keys(rec.alloc).length === 0 &&
      !this.journalSuspect
    ) {
      // Same content: what is on disk is `next` as well.
      this.durable = next;
      this.durableGeneration = state.generation;
      if (!(await this.initialised())) await this.mark();
      return false;
    }
    const line =
      rec && !this.journalSuspect && this.journalBytes <= limit
        ? await runSliced(recordLine(rec))
        : undefined;
    // A change as big as the base (a bulk apply) is cheaper as a new base than as a journal line.
    if (rec && line !== undefined && Buffer.byteLength(line) <= limit) await this.append(rec, line);
    else await this.writeBase(next);
    this.durable = next;
    this.durableGeneration = state.generation;
    if (!(await this.initialised())) await this.mark();
    return true;
  }

  private async append(rec: JournalRecord, line: string): Promise<void> {
    const created = this.journalBytes === 0 && !(await stat(this.journalPath).catch(() => undefined));
    const fh = await open(this.journalPath, 'a', 0o600);
    try {
      await fh.write(line);
      await fh.datasync();
    } catch (e) {
      // Cut a partial line back off; if even that fails, the next save writes a whole new base.
      await fh.truncate(this.journalBytes).catch(() => (this.journalSuspect = true));
      throw e;
    } finally {
      await fh.close();
    }
    if (created) await this.syncDir();
    this.journalBytes += Buffer.byteLength(line);
    this.seq = rec.seq;
  }

  private async writeBase(next: Durable): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const seq = this.seq + 1;
    const body = await runSliced(serialise(next.index.values(), next.allocations));
    const text = `{"version":${FORMAT_VERSION},"savedAt":${JSON.stringify(new Date().toISOString())},"seq":${seq},${body}}`;
    const tmp = join(this.dir, `.${STATE_FILE}.${process.pid}.${this.tmpSeq++}.tmp`);
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw e;
    }
    await this.syncDir();
    this.seq = seq;
    this.baseBytes = Buffer.byteLength(text);
    // Journal lines up to `seq` are in the base now; emptying the journal is only tidying (a crash
    // before it leaves lines the next load skips by their sequence numbers).
    await truncate(this.journalPath, 0).then(
      () => {
        this.journalBytes = 0;
        this.journalSuspect = false;
      },
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') {
          this.journalBytes = 0;
          this.journalSuspect = false;
        } else this.journalSuspect = true;
      },
    );
  }

  private async syncDir(): Promise<void> {
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
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
