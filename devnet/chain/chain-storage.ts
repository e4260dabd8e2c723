import type { Codec } from "@polkadot/types/types";
import { hexToU8a, u8aConcat } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import {
  type ChainMetadata,
  decodeStorageValue,
  encodeStorageValue,
  storageEntry,
  storageKey,
} from "../runtime/chain-metadata.ts";

/**
 * The devnet's state: raw storage (hex key -> hex SCALE value) exactly as the runtime lays it out,
 * with typed access through the real metadata. One instance per block; `clone()` for the next.
 */
export class ChainStorage {
  readonly meta: ChainMetadata;
  readonly entries: Map<string, string>;

  constructor(meta: ChainMetadata, entries: Map<string, string> = new Map()) {
    this.meta = meta;
    this.entries = entries;
  }

  clone(): ChainStorage {
    return new ChainStorage(this.meta, new Map(this.entries));
  }

  /** The raw value at a key, or undefined. */
  raw(key: string): string | undefined {
    return this.entries.get(key.toLowerCase());
  }

  /**
   * Decoded value of `section.method(...keys)`: the stored value, else the metadata's default for
   * ValueQuery entries; undefined for an absent OptionQuery entry (as `Option::None` on chain).
   */
  read(section: string, method: string, ...keys: unknown[]): Codec | undefined {
    const key = storageKey(this.meta, section, method, ...keys);
    const value = this.entries.get(key);
    if (value !== undefined) return decodeStorageValue(this.meta, section, method, value);
    const entry = storageEntry(this.meta, section, method);
    if (entry.meta.modifier.isOptional) return undefined;
    return decodeStorageValue(this.meta, section, method, entry.meta.fallback.toHex());
  }

  /** Writes `value` (anything createType accepts for the entry's type). */
  write(section: string, method: string, keys: unknown[], value: unknown): void {
    this.entries.set(
      storageKey(this.meta, section, method, ...keys),
      encodeStorageValue(this.meta, section, method, value),
    );
  }

  remove(section: string, method: string, keys: unknown[]): void {
    this.entries.delete(storageKey(this.meta, section, method, ...keys));
  }

  /** Keys starting with `prefix`, sorted, after `startKey`, at most `count` (state_getKeysPaged). */
  keysPaged(prefix: string, count: number, startKey?: string): string[] {
    const p = prefix.toLowerCase();
    const start = startKey?.toLowerCase();
    return [...this.entries.keys()]
      .filter((k) => k.startsWith(p) && (start === undefined || k > start))
      .sort()
      .slice(0, count);
  }

  /** A hash of the whole state, standing in for the trie root in headers. */
  root(): string {
    const sorted = [...this.entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return blake2AsHex(u8aConcat(...sorted.flatMap(([k, v]) => [hexToU8a(k), hexToU8a(v)])));
  }
}
