// Misbehaviour the devnet can be told to show for chosen extrinsics, so clients' handling of every
// terminal status is tested against a real pool and real watchers rather than a mock:
// - hang: accepted (ready) and never included; it leaves the pool quietly when its era ends.
// - delay: accepted, included only `blocks` blocks later (a slow but successful transaction).
// - drop: reported "dropped"; with `landAfterBlocks` it is still included that many blocks later
//   without telling the watcher (another node kept it: the case where a client must not resend).
// - invalid: reported "invalid" at the next block and removed.
// - usurp: reported "usurped" at the next block and removed (another transaction took its nonce).
// - finalityTimeout: included, then reported finalityTimeout instead of finalized (it is final).
// - retract: included, reported retracted, then inBlock and finalized again.

/** One kind of misbehaviour. */
export type PoolFaultKind =
  | { kind: "hang" }
  | { kind: "delay"; blocks: number }
  | { kind: "drop"; landAfterBlocks?: number | undefined }
  | { kind: "invalid" }
  | { kind: "usurp" }
  | { kind: "finalityTimeout" }
  | { kind: "retract" };

/** A rule: which extrinsics misbehave and how; `times` extrinsics at most (then the rule is spent). */
export type PoolFault = PoolFaultKind & {
  /** "section.method" of the outer call, camelCase (e.g. "subtensorModule.setWeights"); any when omitted. */
  call?: string | undefined;
  /** Signer's account id (hex) or SS58; any when omitted. */
  signer?: string | undefined;
  /** How many matching extrinsics it applies to. @default 1 */
  times?: number | undefined;
};

/** Checks a fault rule from outside (RPC), naming what is wrong. */
export function parsePoolFault(value: unknown): PoolFault {
  if (typeof value !== "object" || value === null) throw new Error("a fault must be an object with a kind");
  const v = value as Record<string, unknown>;
  const kinds = ["hang", "delay", "drop", "invalid", "usurp", "finalityTimeout", "retract"];
  if (typeof v.kind !== "string" || !kinds.includes(v.kind))
    throw new Error(`fault kind must be one of ${kinds.join(", ")}`);
  for (const key of ["blocks", "landAfterBlocks", "times"])
    if (v[key] !== undefined && !(Number.isInteger(v[key]) && (v[key] as number) >= 0))
      throw new Error(`fault ${key} must be a non-negative integer`);
  if (v.kind === "delay" && typeof v.blocks !== "number") throw new Error("a delay fault needs blocks");
  for (const key of ["call", "signer"])
    if (v[key] !== undefined && typeof v[key] !== "string") throw new Error(`fault ${key} must be a string`);
  return v as unknown as PoolFault;
}
