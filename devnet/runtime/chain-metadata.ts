import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { expandMetadata, Metadata, TypeRegistry } from "@polkadot/types";
import type { DecoratedMeta } from "@polkadot/types/metadata/decorate/types";
import type { Codec } from "@polkadot/types/types";
import { compactStripLength, hexToU8a, stringCamelCase, u8aToHex } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** File name of the real finney runtime metadata (spec 424, metadata V16) the devnet serves. */
export const metadataFixtureName = "subtensor-finney-spec424.metadata.scale";

/** The runtime version the devnet reports: finney's spec 424, with the runtime APIs the metadata lists. */
export interface RuntimeVersionJson {
  specName: string;
  implName: string;
  authoringVersion: number;
  specVersion: number;
  implVersion: number;
  /** [blake2_64(api name), api version] for every runtime API in the metadata. */
  apis: [string, number][];
  transactionVersion: number;
  systemVersion: number;
}

/** The real metadata, decoded once: registry, decorated storage/calls/errors/events, raw bytes. */
export interface ChainMetadata {
  /** The SCALE bytes exactly as captured from finney. */
  bytes: Uint8Array;
  registry: TypeRegistry;
  metadata: Metadata;
  decorated: DecoratedMeta;
  runtimeVersion: RuntimeVersionJson;
}

const finneySpecVersion = 424;

let cached: ChainMetadata | undefined;

/**
 * Finds `test/fixtures/chain/<name>` by walking up from this file, so it resolves both from source
 * (`devnet/runtime/`) and from the build (`dist/devnet/runtime/`), never from the working directory.
 */
export function metadataFixturePath(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 6; i += 1) {
    const candidate = join(dir, "test", "fixtures", "chain", metadataFixtureName);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new CacheonError(
    "not-found",
    `the chain metadata fixture test/fixtures/chain/${metadataFixtureName} was not found above ${import.meta.dirname}: run from a complete checkout of cacheon-ts`,
  );
}

/** Loads and decodes the real metadata (cached per process: decoding takes a few hundred ms). */
export function loadChainMetadata(): ChainMetadata {
  if (cached) return cached;
  const bytes = new Uint8Array(readFileSync(metadataFixturePath()));
  const registry = new TypeRegistry();
  // The runtime has four custom signed extensions that carry no data; @polkadot/types warns about
  // them once and treats them as empty, which is exactly their encoding.
  const metadata = withQuietWarnings(() => new Metadata(registry, bytes));
  withQuietWarnings(() => registry.setMetadata(metadata));
  const decorated = expandMetadata(registry, metadata);
  const apis = metadata.asV16.apis.map(
    (api) => [blake2AsHex(api.name.toString(), 64), api.version.toNumber()] as [string, number],
  );
  cached = {
    bytes,
    registry,
    metadata,
    decorated,
    runtimeVersion: {
      specName: "node-subtensor",
      implName: "node-subtensor",
      authoringVersion: 1,
      specVersion: finneySpecVersion,
      implVersion: 1,
      apis,
      transactionVersion: 1,
      systemVersion: 1,
    },
  };
  return cached;
}

function withQuietWarnings<T>(fn: () => T): T {
  const original = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args.join(" ")).includes("Unknown signed extensions")) original(...args);
  };
  try {
    return fn();
  } finally {
    console.warn = original;
  }
}

/** A decorated storage entry of the real metadata, e.g. `storageEntry(meta, "subtensorModule", "weights")`. */
export function storageEntry(meta: ChainMetadata, section: string, method: string) {
  const entry = meta.decorated.query[section]?.[method];
  if (!entry) throw new CacheonError("internal", `the metadata has no storage ${section}.${method}`);
  return entry;
}

/** The hex storage key of `section.method(args)`, hashed exactly as the runtime hashes it. */
export function storageKey(meta: ChainMetadata, section: string, method: string, ...args: unknown[]): string {
  const entry = storageEntry(meta, section, method);
  const key = entry(...args);
  return u8aToHex(compactStripLength(key)[1]);
}

/** The lookup type name of a storage entry's value (e.g. "Lookup451"). */
export function storageValueType(meta: ChainMetadata, section: string, method: string): string {
  const type = storageEntry(meta, section, method).meta.type;
  const id = type.isPlain ? type.asPlain : type.asMap.value;
  return meta.registry.createLookupType(id);
}

/** SCALE-encodes a value of a storage entry's type. */
export function encodeStorageValue(
  meta: ChainMetadata,
  section: string,
  method: string,
  value: unknown,
): string {
  // toU8a, not toHex: toHex of a number is its big-endian value, not its SCALE encoding.
  return u8aToHex(meta.registry.createTypeUnsafe(storageValueType(meta, section, method), [value]).toU8a());
}

/** Decodes a storage entry's SCALE value. */
export function decodeStorageValue(meta: ChainMetadata, section: string, method: string, hex: string): Codec {
  return meta.registry.createTypeUnsafe(storageValueType(meta, section, method), [hexToU8a(hex)]);
}

/** Index of a pallet (e.g. SubtensorModule 7) and of one of its errors, from the metadata. */
export function moduleErrorIndex(
  meta: ChainMetadata,
  section: string,
  name: string,
): { index: number; error: number } {
  const error = meta.decorated.errors[section]?.[name];
  if (!error) throw new CacheonError("internal", `the metadata has no error ${section}.${name}`);
  const pallet = meta.metadata.asV16.pallets.find((p) => stringCamelCase(p.name) === section);
  if (!pallet) throw new CacheonError("internal", `the metadata has no pallet ${section}`);
  return { index: pallet.index.toNumber(), error: error.meta.index.toNumber() };
}
