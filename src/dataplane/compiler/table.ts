// The compiled form of ferrolb's nftables table: plain data that both the compiler (from the desired
// services) and the observer (from `nft -j list table`) produce, so the diff can compare "what we
// want" with "what the kernel has" — including after a restart.
import { createHash } from 'node:crypto';

/** A named set or map. `sig` is comparable with what `nft -j` reports (type names, not syntax). */
export interface TableMap {
  readonly name: string;
  /** Declaration body, e.g. "type ipv4_addr : verdict;". */
  readonly decl: string;
  /** kind|key types|value type|timeout — identical for compiled and observed maps. */
  readonly sig: string;
  /** Kernel-managed content (affinity sets): never diffed element by element. */
  readonly dynamic: boolean;
  /** Canonical key text → value text ('' for sets). */
  readonly elements: ReadonlyMap<string, string>;
}

export interface TableRule {
  /** nft rule text without the comment (empty when observed: the kernel returns JSON). */
  readonly text: string;
  /** Content hash, stored in the kernel as the rule's comment so a restarted ferrolb can compare. */
  readonly id: string;
}

export interface TableChain {
  readonly name: string;
  /** Base chains: "type hook priority policy" (e.g. "nat prerouting -100 accept"); '' otherwise. */
  readonly hook: string;
  readonly rules: readonly TableRule[];
}

export interface TableState {
  readonly table: string;
  readonly chains: ReadonlyMap<string, TableChain>;
  readonly maps: ReadonlyMap<string, TableMap>;
  /** Named counters: name → comment. */
  readonly counters: ReadonlyMap<string, string>;
}

export const shortHash = (s: string, len = 10): string =>
  createHash('sha256').update(s).digest('hex').slice(0, len);

export const rule = (text: string): TableRule => ({ text, id: `fl:${shortHash(text, 12)}` });

export const chainSig = (c: TableChain): string => `${c.hook}|${c.rules.map((r) => r.id).join(',')}`;

export const mapSig = (kind: 'map' | 'set', key: string, value: string, timeout = 0): string =>
  `${kind}|${key}|${value}|${timeout}`;
