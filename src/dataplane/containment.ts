// Failure containment: when the kernel refuses a transaction, find the service(s) it cannot take and
// keep programming every other one. Pure planning; the applier supplies `attempt`, which tries to
// commit the accepted changes plus one group and reports why the kernel refused it (or undefined).
//
// Group testing: suspects (services the error text names) are tried alone, the others first as one
// group; a refused group is split in halves until each refusal is one service (when the first half
// passes, the second is known refused: no attempt). k culprits among n changed services cost at most
// about k·2·log2(n) attempts; a single named culprit costs one.

export interface Isolation<T> {
  readonly accepted: T[];
  readonly culprits: { readonly item: T; readonly reason: string }[];
  readonly attempts: number;
}

/**
 * Tries the accepted changes plus `group`; undefined = accepted. `final`: if accepted, nothing else
 * will be tried (the caller may commit it for real instead of only checking it).
 */
export type Attempt<T> = (group: readonly T[], final: boolean) => Promise<string | undefined>;

/** Attempts beyond this mark the rest as failed without trying (bounded work for a broken kernel). */
export const MAX_ATTEMPTS = 200;

export async function isolate<T>(
  changed: readonly T[],
  suspects: ReadonlySet<T>,
  attempt: Attempt<T>,
  /** Why the whole of `changed` was refused (it is not tried again). */
  wholeReason: string,
): Promise<Isolation<T>> {
  const accepted: T[] = [];
  const culprits: { item: T; reason: string }[] = [];
  let attempts = 0;
  /** Tests `group` (refused already when knownReason is set); returns whether all of it was accepted. */
  const test = async (group: readonly T[], knownReason?: string, final = false): Promise<boolean> => {
    if (group.length === 0) return true;
    let reason = knownReason;
    if (reason === undefined) {
      if (attempts >= MAX_ATTEMPTS) {
        for (const item of group) culprits.push({ item, reason: 'not isolated: too many refusals' });
        return false;
      }
      attempts++;
      reason = await attempt(group, final);
      if (reason === undefined) {
        accepted.push(...group);
        return true;
      }
    }
    if (group.length === 1) {
      culprits.push({ item: group[0]!, reason });
      return false;
    }
    // Refusals are per service: when the first half is accepted, the second half is the refused one.
    const mid = Math.ceil(group.length / 2);
    const leftOk = await test(group.slice(0, mid));
    await test(group.slice(mid), leftOk ? reason : undefined);
    return false;
  };
  const named = changed.filter((s) => suspects.has(s));
  if (named.length === 0 || named.length === changed.length) await test(changed, wholeReason);
  else {
    // With one suspect, the rest passing ends the search (the suspect is then the culprit).
    const restOk = await test(
      changed.filter((s) => !suspects.has(s)),
      undefined,
      named.length === 1,
    );
    // The whole set was refused and the rest is fine: a lone suspect is the culprit, untried.
    if (restOk && named.length === 1) await test(named, wholeReason);
    else for (const s of named) await test([s]);
  }
  return { accepted, culprits, attempts };
}

/** The first line of an nft/ip error that says what is wrong (nft prints the statement after it). */
export function errorSummary(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim());
  const e = lines.find((l) => /Error:/.test(l)) ?? lines.find(Boolean) ?? 'refused';
  return e.replace(/^\/dev\/stdin:\d+:\d+(-\d+)?: /, '').slice(0, 300);
}

/** Script lines nft names in its error output ("/dev/stdin:LINE:COL..."), plus the echoed text. */
export function implicatedText(stderr: string, script: string): string {
  const lines = script.split('\n');
  const named = [...stderr.matchAll(/\/dev\/stdin:(\d+):/g)].map((m) => lines[Number(m[1]) - 1] ?? '');
  return [...named, stderr].join('\n');
}
