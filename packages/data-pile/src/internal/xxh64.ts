// Streaming XXH64 (seed 0) in plain 32-bit JavaScript arithmetic, to verify the content checksum
// that zstd frames carry (the low 32 bits of XXH64 of the decompressed frame). fzstd skips that
// check; without it a flipped bit in a shard could decode to silently wrong text.
//
// 64-bit values are (hi, lo) pairs of uint32; products are built from 16-bit limbs so every
// intermediate stays an exact double.

const P1H = 0x9e3779b1,
  P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d,
  P2L = 0x27d4eb4f;
const P3H = 0x165667b1,
  P3L = 0x9e3779f9;
const P4H = 0x85ebca77,
  P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f,
  P5L = 0x165667c5;

// Results of the 64-bit helpers (avoids allocating pairs in the hot loop).
let rh = 0;
let rl = 0;

function mul(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff,
    a1 = al >>> 16,
    b0 = bl & 0xffff,
    b1 = bl >>> 16;
  const mid = a0 * b1 + a1 * b0; // < 2^33
  const low = a0 * b0 + (mid % 65536) * 65536; // < 2^33
  const lo = low >>> 0;
  const carry = (low - lo) / 4294967296;
  const hi = a1 * b1 + Math.floor(mid / 65536) + carry + Math.imul(ah, bl) + Math.imul(al, bh);
  rh = hi >>> 0;
  rl = lo;
}

function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = al + bl;
  rl = lo >>> 0;
  rh = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

function rotl(h: number, l: number, r: number): void {
  if (r >= 32) {
    const t = h;
    h = l;
    l = t;
    r -= 32;
  }
  if (r === 0) {
    rh = h >>> 0;
    rl = l >>> 0;
    return;
  }
  rh = ((h << r) | (l >>> (32 - r))) >>> 0;
  rl = ((l << r) | (h >>> (32 - r))) >>> 0;
}

/** acc = rotl(acc + lane * P2, 31) * P1 */
function round(acch: number, accl: number, laneh: number, lanel: number): void {
  mul(laneh, lanel, P2H, P2L);
  add(acch, accl, rh, rl);
  rotl(rh, rl, 31);
  mul(rh, rl, P1H, P1L);
}

const P1_0 = P1L & 0xffff,
  P1_1 = P1L >>> 16;
const P2_0 = P2L & 0xffff,
  P2_1 = P2L >>> 16;

/**
 * The stripe loop of XXH64 over d[p, end) (a multiple of 32 bytes), with the four
 * accumulators kept in locals and the 64-bit arithmetic written out.
 */
function stripes(v: Uint32Array, d: Uint8Array, p: number, end: number): void {
  let v0h = v[0]!,
    v0l = v[1]!,
    v1h = v[2]!,
    v1l = v[3]!,
    v2h = v[4]!,
    v2l = v[5]!,
    v3h = v[6]!,
    v3l = v[7]!;
  let ah = 0,
    al = 0,
    lh = 0,
    ll = 0,
    a0 = 0,
    a1 = 0,
    mid = 0,
    low = 0,
    hi = 0,
    t = 0;
  for (; p < end; p += 32) {
    ll = (d[p + 0]! | (d[p + 1]! << 8) | (d[p + 2]! << 16) | (d[p + 3]! << 24)) >>> 0;
    lh = (d[p + 4]! | (d[p + 5]! << 8) | (d[p + 6]! << 16) | (d[p + 7]! << 24)) >>> 0;
    a0 = ll & 0xffff;
    a1 = ll >>> 16;
    mid = a0 * P2_1 + a1 * P2_0;
    low = a0 * P2_0 + (mid & 0xffff) * 65536;
    hi = (a1 * P2_1 + ((mid / 65536) | 0) + (low > 0xffffffff ? 1 : 0) + Math.imul(lh, P2L) + Math.imul(ll, P2H)) >>> 0;
    t = v0l + (low >>> 0);
    al = t >>> 0;
    ah = (v0h + hi + (t > 0xffffffff ? 1 : 0)) >>> 0;
    t = ah;
    ah = ((ah << 31) | (al >>> 1)) >>> 0;
    al = ((al << 31) | (t >>> 1)) >>> 0;
    a0 = al & 0xffff;
    a1 = al >>> 16;
    mid = a0 * P1_1 + a1 * P1_0;
    low = a0 * P1_0 + (mid & 0xffff) * 65536;
    v0h =
      (a1 * P1_1 + ((mid / 65536) | 0) + (low > 0xffffffff ? 1 : 0) + Math.imul(ah, P1L) + Math.imul(al, P1H)) >>> 0;
    v0l = low >>> 0;
    ll = (d[p + 8]! | (d[p + 9]! << 8) | (d[p + 10]! << 16) | (d[p + 11]! << 24)) >>> 0;
    lh = (d[p + 12]! | (d[p + 13]! << 8) | (d[p + 14]! << 16) | (d[p + 15]! << 24)) >>> 0;
    a0 = ll & 0xffff;
    a1 = ll >>> 16;
    mid = a0 * P2_1 + a1 * P2_0;
    low = a0 * P2_0 + (mid & 0xffff) * 65536;
    hi = (a1 * P2_1 + ((mid / 65536) | 0) + (low > 0xffffffff ? 1 : 0) + Math.imul(lh, P2L) + Math.imul(ll, P2H)) >>> 0;
    t = v1l + (low >>> 0);
    al = t >>> 0;
    ah = (v1h + hi + (t > 0xffffffff ? 1 : 0)) >>> 0;
    t = ah;
    ah = ((ah << 31) | (al >>> 1)) >>> 0;
    al = ((al << 31) | (t >>> 1)) >>> 0;
    a0 = al & 0xffff;
    a1 = al >>> 16;
    mid = a0 * P1_1 + a1 * P1_0;
    low = a0 * P1_0 + (mid & 0xffff) * 65536;
    v1h =
      (a1 * P1_1 + ((mid / 65536) | 0) + (low > 0xffffffff ? 1 : 0) + Math.imul(ah, P1L) + Math.imul(al, P1H)) >>> 0;
    v1l = low >>> 0;
    ll = (d[p + 16]! | (d[p + 17]! << 8) | (d[p + 18]! << 16) | (d[p + 19]! << 24)) >>> 0;
    lh = (d[p + 20]! | (d[p + 21]! << 8) | (d[p + 22]! << 16) | (d[p + 23]! << 24)) >>> 0;
    a0 = ll & 0xffff;
    a1 = ll >>> 16;
    mid = a0 * P2_1 + a1 * P2_0;
    low = a0 * P2_0 + (mid & 0xffff) * 65536;
    hi = (a1 * P2_1 + ((mid / 65536) | 0) + (low > 0xffffffff ? 1 : 0) + Math.imul(lh, P2L) + Math.imul(ll, P2H)) >>> 0;
    t = v2l + (low >>> 0);
    al = t >>> 0;
    ah = (v2h + hi + (t > 0xffffffff ? 1 : 0)) >>> 0;
    t = ah;
    ah = ((ah << 31) | (al >>> 1)) >>> 0;
    al = ((al << 31) | (t >>> 1)) >>> 0;
    a0 = al & 0xffff;
    a1 = al >>> 16;
    mid = a0 * P1_1 + a1 * P1_0;
    low = a0 * P1_0 + (mid & 0xffff) * 65536;
    v2h =
      (a1 * P1_1 + ((mid / 65536) | 0) + (low > 0xffffffff ? 1 : 0) + Math.imul(ah, P1L) + Math.imul(al, P1H)) >>> 0;
    v2l = low >>> 0;
    ll = (d[p + 24]! | (d[p + 25]! << 8) | (d[p + 26]! << 16) | (d[p + 27]! << 24)) >>> 0;
    lh = (d[p + 28]! | (d[p + 29]! << 8) | (d[p + 30]! << 16) | (d[p + 31]! << 24)) >>> 0;
    a0 = ll & 0xffff;
    a1 = ll >>> 16;
    mid = a0 * P2_1 + a1 * P2_0;
    low = a0 * P2_0 + (mid & 0xffff) * 65536;
    hi = (a1 * P2_1 + ((mid / 65536) | 0) + (low > 0xffffffff ? 1 : 0) + Math.imul(lh, P2L) + Math.imul(ll, P2H)) >>> 0;
    t = v3l + (low >>> 0);
    al = t >>> 0;
    ah = (v3h + hi + (t > 0xffffffff ? 1 : 0)) >>> 0;
    t = ah;
    ah = ((ah << 31) | (al >>> 1)) >>> 0;
    al = ((al << 31) | (t >>> 1)) >>> 0;
    a0 = al & 0xffff;
    a1 = al >>> 16;
    mid = a0 * P1_1 + a1 * P1_0;
    low = a0 * P1_0 + (mid & 0xffff) * 65536;
    v3h =
      (a1 * P1_1 + ((mid / 65536) | 0) + (low > 0xffffffff ? 1 : 0) + Math.imul(ah, P1L) + Math.imul(al, P1H)) >>> 0;
    v3l = low >>> 0;
  }
  v[0] = v0h;
  v[1] = v0l;
  v[2] = v1h;
  v[3] = v1l;
  v[4] = v2h;
  v[5] = v2l;
  v[6] = v3h;
  v[7] = v3l;
}

/** Incremental XXH64 with seed 0. */
export class Xxh64 {
  private readonly v = new Uint32Array(8); // v1..v4 as (hi, lo)
  private readonly buf = new Uint8Array(32);
  private bufLen = 0;
  private total = 0;

  constructor() {
    this.reset();
  }

  /** Starts over. */
  reset(): void {
    const v = this.v;
    add(P1H, P1L, P2H, P2L);
    v[0] = rh;
    v[1] = rl; // seed + P1 + P2
    v[2] = P2H;
    v[3] = P2L; // seed + P2
    v[4] = 0;
    v[5] = 0; // seed
    // seed - P1 = 2^64 - P1
    const lo = (0x100000000 - P1L) >>> 0;
    v[6] = ~P1H >>> 0; // P1L ≠ 0, so no carry into the high word
    v[7] = lo;
    this.bufLen = 0;
    this.total = 0;
  }

  private stripe(d: Uint8Array, p: number): void {
    stripes(this.v, d, p, p + 32);
  }

  /** Adds bytes. */
  update(data: Uint8Array): void {
    let p = 0;
    const n = data.length;
    this.total += n;
    if (this.bufLen > 0) {
      const take = Math.min(32 - this.bufLen, n);
      this.buf.set(data.subarray(0, take), this.bufLen);
      this.bufLen += take;
      p = take;
      if (this.bufLen < 32) return;
      this.stripe(this.buf, 0);
      this.bufLen = 0;
    }
    const end = p + Math.floor((n - p) / 32) * 32;
    if (end > p) stripes(this.v, data, p, end);
    p = end;
    if (p < n) {
      this.buf.set(data.subarray(p), 0);
      this.bufLen = n - p;
    }
  }

  /** The digest as (hi, lo) uint32 words. */
  digest(): [number, number] {
    const v = this.v;
    let hh: number, hl: number;
    if (this.total >= 32) {
      rotl(v[0]!, v[1]!, 1);
      let ah = rh,
        al = rl;
      rotl(v[2]!, v[3]!, 7);
      add(ah, al, rh, rl);
      ah = rh;
      al = rl;
      rotl(v[4]!, v[5]!, 12);
      add(ah, al, rh, rl);
      ah = rh;
      al = rl;
      rotl(v[6]!, v[7]!, 18);
      add(ah, al, rh, rl);
      ah = rh;
      al = rl;
      for (let i = 0; i < 4; i++) {
        // mergeRound: acc ^= round(0, v); acc = acc * P1 + P4
        round(0, 0, v[2 * i]!, v[2 * i + 1]!);
        ah = (ah ^ rh) >>> 0;
        al = (al ^ rl) >>> 0;
        mul(ah, al, P1H, P1L);
        add(rh, rl, P4H, P4L);
        ah = rh;
        al = rl;
      }
      hh = ah;
      hl = al;
    } else {
      hh = P5H;
      hl = P5L;
    }
    // h += total length (as a 64-bit number)
    const totHi = Math.floor(this.total / 4294967296) >>> 0;
    add(hh, hl, totHi, this.total >>> 0);
    hh = rh;
    hl = rl;
    const b = this.buf;
    let p = 0;
    const n = this.bufLen;
    for (; p + 8 <= n; p += 8) {
      const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
      const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
      round(0, 0, hi, lo);
      hh = (hh ^ rh) >>> 0;
      hl = (hl ^ rl) >>> 0;
      rotl(hh, hl, 27);
      mul(rh, rl, P1H, P1L);
      add(rh, rl, P4H, P4L);
      hh = rh;
      hl = rl;
    }
    if (p + 4 <= n) {
      const w = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
      mul(0, w, P1H, P1L);
      hh = (hh ^ rh) >>> 0;
      hl = (hl ^ rl) >>> 0;
      rotl(hh, hl, 23);
      mul(rh, rl, P2H, P2L);
      add(rh, rl, P3H, P3L);
      hh = rh;
      hl = rl;
      p += 4;
    }
    for (; p < n; p++) {
      mul(0, b[p]!, P5H, P5L);
      hh = (hh ^ rh) >>> 0;
      hl = (hl ^ rl) >>> 0;
      rotl(hh, hl, 11);
      mul(rh, rl, P1H, P1L);
      hh = rh;
      hl = rl;
    }
    // avalanche
    hl = (hl ^ (hh >>> 1)) >>> 0; // h ^= h >>> 33
    mul(hh, hl, P2H, P2L);
    hh = rh;
    hl = rl;
    hl = (hl ^ ((hl >>> 29) | (hh << 3))) >>> 0; // h ^= h >>> 29
    hh = (hh ^ (hh >>> 29)) >>> 0;
    mul(hh, hl, P3H, P3L);
    hh = rh;
    hl = rl;
    hl = (hl ^ hh) >>> 0; // h ^= h >>> 32
    return [hh, hl];
  }
}

/** XXH64 (seed 0) of `data` as a 16-digit hex string. */
export function xxh64Hex(data: Uint8Array): string {
  const h = new Xxh64();
  h.update(data);
  const [hi, lo] = h.digest();
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}
