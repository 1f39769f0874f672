// Groups the chunks of a pool by exact equality of all K token ids (open-addressing hash table on a
// numeric hash, verified id by id, so no strings are built), keeping first-occurrence order.

/** Distinct chunks of one pool, in order of first occurrence. */
export interface ChunkGroups {
  /** Number of distinct chunks. */
  size: number;
  /** Pool index (0-based, in chunks) of each distinct chunk's first occurrence; length ≥ size. */
  first: Int32Array;
  /** Occurrences of each distinct chunk; length ≥ size. */
  counts: Int32Array;
}

/** Reusable buffers for {@link groupChunks}, sized for pools of up to `capacity` chunks. */
export class GroupScratch {
  readonly first: Int32Array;
  readonly counts: Int32Array;
  /** Open-addressing table: group index + 1, or 0 for an empty slot. */
  readonly table: Int32Array;
  readonly mask: number;

  constructor(readonly capacity: number) {
    this.first = new Int32Array(capacity);
    this.counts = new Int32Array(capacity);
    let size = 16;
    while (size < 2 * capacity) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
  }
}

function hashChunk(ids: Int32Array, at: number, k: number): number {
  let h = 0x811c9dc5 ^ k;
  for (let i = 0; i < k; i++) {
    h = Math.imul(h ^ ids[at + i]!, 0x01000193);
    h ^= h >>> 15;
  }
  return Math.imul(h ^ (h >>> 13), 0x5bd1e995) ^ (h >>> 16);
}

/**
 * Groups the `poolSize` chunks that start at chunk index `start` of `ids` (chunk size `k`).
 * The result's arrays belong to `scratch` and are overwritten by the next call with it.
 */
export function groupChunks(
  ids: Int32Array,
  start: number,
  poolSize: number,
  k: number,
  scratch = new GroupScratch(poolSize),
): ChunkGroups {
  if (scratch.capacity < poolSize) scratch = new GroupScratch(poolSize);
  const { first, counts, table, mask } = scratch;
  table.fill(0);
  let size = 0;
  for (let s = 0; s < poolSize; s++) {
    const at = (start + s) * k;
    let slot = hashChunk(ids, at, k) & mask;
    for (;;) {
      const g = table[slot]! - 1;
      if (g < 0) {
        table[slot] = size + 1;
        first[size] = s;
        counts[size] = 1;
        size++;
        break;
      }
      const other = (start + first[g]!) * k;
      let same = true;
      for (let i = 0; i < k; i++) {
        if (ids[other + i] !== ids[at + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        counts[g]!++;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return { size, first, counts };
}
