/** A semantic version, parsed. */
interface Parsed {
  core: [number, number, number];
  pre: string[];
}

/** Parses "MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]" (a leading "v" allowed); undefined otherwise. Pure. */
function parse(text: string): Parsed | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(text.trim());
  if (!m) return undefined;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split(".") : [] };
}

/** True for text {@link compareVersions} can order. Pure. */
export function isVersion(text: string): boolean {
  return parse(text) !== undefined;
}

/**
 * Orders two semantic versions: negative when `a` is older, 0 when equal, positive when newer;
 * build metadata ("+g1a2b3c") is ignored and a pre-release is older than its release, as semver
 * says. Undefined when either is not a version. Pure.
 */
export function compareVersions(a: string, b: string): number | undefined {
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < 3; i++) {
    const d = (x.core[i] as number) - (y.core[i] as number);
    if (d !== 0) return Math.sign(d);
  }
  if (x.pre.length === 0 || y.pre.length === 0) return Math.sign(y.pre.length - x.pre.length);
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Math.sign(Number(p) - Number(q));
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return 0;
}
