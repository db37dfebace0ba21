// A stand-in for the kernel's fast-path maps in unit tests: applies the element lines our scripts
// contain (add/delete element) and prints `nft -j list table` JSON in nft 1.0.6's shape (checked
// against the real one in the restart e2e). Rejects what nft rejects for us: deleting an absent
// element, adding an existing key.
export class FakeNft {
  /** family → map → key → { value, comment } */
  private readonly maps = new Map<string, Map<string, Map<string, { value: string; comment?: string }>>>();

  apply(script: string): void {
    for (const line of script.split('\n')) {
      if (!line.trim()) continue;
      const m = /^(add|delete) element (ip6?) ferrolb_sctp (\w+) \{ (.*) \}$/.exec(line);
      if (!m) throw new Error(`fake nft: cannot parse ${line}`);
      const [, op, fam, map, body] = m as unknown as [string, string, string, string, string];
      const famMaps = this.maps.get(fam) ?? new Map();
      this.maps.set(fam, famMaps);
      const elems = famMaps.get(map) ?? new Map();
      famMaps.set(map, elems);
      if (op === 'delete') {
        if (!elems.delete(body.trim())) throw new Error(`fake nft: no such element ${line}`);
        continue;
      }
      const cm = /^(.*?)(?: comment "([^"]*)")? : (\S+)$/.exec(body);
      if (!cm) throw new Error(`fake nft: bad element ${line}`);
      const key = (cm[1] as string).trim();
      if (elems.has(key)) throw new Error(`fake nft: File exists: ${line}`);
      elems.set(key, { value: cm[3] as string, ...(cm[2] !== undefined ? { comment: cm[2] } : {}) });
    }
  }

  size(fam: 'ip' | 'ip6', map: string): number {
    return this.maps.get(fam)?.get(map)?.size ?? 0;
  }

  /** `nft -j list table <fam> ferrolb_sctp`; `packets` gives per-key counters. */
  json(fam: 'ip' | 'ip6', packets: (key: string) => number = () => 0): string {
    const maps = this.maps.get(fam) ?? new Map<string, Map<string, { value: string; comment?: string }>>();
    const num = (s: string) => (s.startsWith('0x') ? parseInt(s, 16) : Number(s));
    const out: unknown[] = [
      { metainfo: { version: '1.0.6' } },
      { table: { family: fam, name: 'ferrolb_sctp' } },
    ];
    for (const name of ['pathid', 'nsaddr', 'ndaddr', 'nsport', 'ndport']) {
      const elems = [...(maps.get(name) ?? new Map()).entries()];
      const elem =
        name === 'pathid'
          ? elems.map(([k, v]) => {
              const [src, dst, sp, dp] = k.split(' . ');
              return [
                {
                  elem: {
                    val: { concat: [src, dst, Number(sp), Number(dp)] },
                    ...(v.comment !== undefined ? { comment: v.comment } : {}),
                    counter: { packets: packets(k), bytes: 0 },
                  },
                },
                num(v.value),
              ];
            })
          : elems.map(([k, v]) => [num(k), name.endsWith('port') ? Number(v.value) : v.value]);
      out.push({ map: { family: fam, name, table: 'ferrolb_sctp', ...(elem.length ? { elem } : {}) } });
    }
    return JSON.stringify({ nftables: out });
  }
}
