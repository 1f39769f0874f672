// A general float32 matrix product for the kernel module, C (+)= op(A)·op(B), in the GotoBLAS/BLIS
// structure: blocks of B (KC × NC) and A (MC × KC) are packed into panels of NR columns / MR rows
// (zero padded at the edges; either operand may be given transposed, the packing reads it so), and
// an MR × NR register-blocked micro-kernel (v128 accumulators, one f32 splat load per row and k)
// computes each tile. Two variants: multiply then add (fixed-width SIMD, every engine), and fused
// multiply-add (relaxed SIMD's f32x4.relaxed_madd) with a taller tile, whose accumulators cover
// the FMA latency. Pointers are byte offsets in the shared heap; leading dimensions are in
// elements. Internal.
import {
  at,
  F32,
  f32mul,
  vhsum,
  block,
  br,
  brIf,
  call,
  type Code,
  f32,
  f32add,
  f32load,
  f32store,
  Fn,
  forStep,
  get,
  I32,
  i32,
  i32add,
  i32and,
  i32eq,
  i32gtS,
  i32ltS,
  i32mul,
  i32sub,
  i64load,
  i64store,
  ifElse,
  ifThen,
  loop,
  select,
  set,
  V128,
  vadd,
  vconst,
  vload,
  vloadSplat,
  vmadd,
  vmul,
  vshuffle32,
  vstore,
} from './asm.js';

const cat = (...parts: Code[]): Code => parts.flat();

/**
 * A gemm variant: micro-tile rows and columns (NR a multiple of 4), the cache blocks (MC × KC of A
 * in L2, KC × NC of B in L3; MC a multiple of MR), and whether the micro-kernel fuses its
 * multiply-adds (relaxed SIMD).
 */
export interface GemmConfig {
  readonly mr: number;
  readonly nr: number;
  readonly mc: number;
  readonly kc: number;
  readonly nc: number;
  readonly fma: boolean;
}

/** Multiply then add, 4 × 8 tiles: 8 accumulators, 11 of the 16 vector registers. */
export const GEMM_PLAIN: GemmConfig = { mr: 4, nr: 8, mc: 128, kc: 256, nc: 2048, fma: false };
/** Fused multiply-add, 6 × 8 tiles: 12 accumulators (FMA latency 4–5 cycles, two per cycle). */
export const GEMM_FMA: GemmConfig = { mr: 6, nr: 8, mc: 120, kc: 256, nc: 2048, fma: true };

/** Bytes of work memory one gemm call of this variant needs: packed A block, packed B block, an edge tile. */
export const gemmWorkBytes = (g: GemmConfig): number => (g.mc * g.kc + g.kc * g.nc + g.mr * g.nr) * 4;
/** Bytes of work memory a gemm call of either variant needs. */
export const GEMM_WORK_BYTES = Math.max(gemmWorkBytes(GEMM_PLAIN), gemmWorkBytes(GEMM_FMA));

/** `min(a, b)` for i32 expressions, using two scratch locals. */
function min(fn: Fn, a: Code, b: Code): Code {
  const ta = fn.local(I32);
  const tb = fn.local(I32);
  return cat(set(ta, a), set(tb, b), select(get(ta), get(tb), i32ltS(get(ta), get(tb))));
}

/** (ap, bp, kc, c, ldcBytes, accumulate, mValid, nValid, tile): one MR × NR tile of C. */
function microKernel(g: GemmConfig): Fn {
  const MR = g.mr;
  const NR = g.nr;
  const NV = NR / 4; // vectors per tile row
  const fn = new Fn('gemmMicro', [I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [ap, bp, kc, c, ldc, accumulate, mValid, nValid, tile] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const acc = Array.from({ length: MR * NV }, () => fn.local(V128)); // [row][vector]
  const bv = Array.from({ length: NV }, () => fn.local(V128));
  const a = fn.local(V128);
  const k = fn.local(I32);
  const r = fn.local(I32);
  const j = fn.local(I32);
  const row = fn.local(I32);
  const rowC = (rr: number) => i32add(get(c), i32mul(i32(rr), get(ldc)));
  const accOf = (rr: number, v: number) => acc[rr * NV + v]!;
  const madd = (x: number, y: number, s: number): Code =>
    g.fma ? vmadd(get(x), get(y), get(s)) : vadd(get(s), vmul(get(x), get(y)));
  fn.emit(
    ...acc.map((x) => set(x, vconst(0))),
    set(k, get(kc)),
    block(
      loop(
        brIf(1, i32ltS(get(k), i32(1))),
        ...bv.map((x, v) => set(x, vload(get(bp), 16 * v))),
        ...Array.from({ length: MR }, (_, rr) =>
          cat(set(a, vloadSplat(get(ap), 4 * rr)), ...bv.map((x, v) => set(accOf(rr, v), madd(a, x, accOf(rr, v))))),
        ),
        set(ap, i32add(get(ap), i32(4 * MR))),
        set(bp, i32add(get(bp), i32(4 * NR))),
        set(k, i32sub(get(k), i32(1))),
        br(0),
      ),
    ),
    ifElse(
      i32and(i32eq(get(mValid), i32(MR)), i32eq(get(nValid), i32(NR))),
      [
        ifElse(
          get(accumulate),
          Array.from({ length: MR }, (_, rr) =>
            cat(...bv.map((_x, v) => vstore(rowC(rr), vadd(vload(rowC(rr), 16 * v), get(accOf(rr, v))), 16 * v))),
          ),
          Array.from({ length: MR }, (_, rr) => cat(...bv.map((_x, v) => vstore(rowC(rr), get(accOf(rr, v)), 16 * v)))),
        ),
      ],
      [
        // Edge tile: through the scratch tile, then only the valid part into C.
        ...Array.from({ length: MR }, (_, rr) =>
          cat(...bv.map((_x, v) => vstore(get(tile), get(accOf(rr, v)), 4 * NR * rr + 16 * v))),
        ),
        forStep(
          r,
          i32(0),
          get(mValid),
          1,
          set(row, i32add(get(c), i32mul(get(r), get(ldc)))),
          forStep(
            j,
            i32(0),
            get(nValid),
            1,
            f32store(
              i32add(get(row), i32mul(get(j), i32(4))),
              f32add(
                select(f32load(i32add(get(row), i32mul(get(j), i32(4)))), f32(0), get(accumulate)),
                f32load(i32add(get(tile), i32mul(i32add(i32mul(get(r), i32(NR)), get(j)), i32(4)))),
              ),
            ),
          ),
        ),
      ],
    ),
  );
  return fn;
}

/**
 * (src, ld, trans, r0, k0, rows, kc, dst, width): packs rows r0..r0+rows of an operand's k-range
 * k0..k0+kc into panels of `width` rows: dst[panel][k][w]. The operand's element (r, k) is at
 * `src + 4·(r·ld + k)`, or at `src + 4·(k·ld + r)` when `trans`. Rows past `rows` are zero.
 * (For B the "rows" are its columns: element (k, col) is at col·ld + k when given transposed.)
 */
function packKernel(name: string, width: number): Fn {
  const fn = new Fn(name, [I32, I32, I32, I32, I32, I32, I32, I32]);
  const [src, ld, trans, r0, k0, rows, kc, dst] = [0, 1, 2, 3, 4, 5, 6, 7];
  const p = fn.local(I32);
  const w = fn.local(I32);
  const k = fn.local(I32);
  const valid = fn.local(I32);
  const out = fn.local(I32);
  const rowPtr = fn.local(I32);
  const stride = fn.local(I32);
  const base = fn.local(I32);
  const ldb = fn.local(I32); // ld in bytes
  const rp = Array.from({ length: 4 }, () => fn.local(I32)); // four row pointers (untransposed panels)
  const v = Array.from({ length: 4 }, () => fn.local(V128));
  const tt = Array.from({ length: 4 }, () => fn.local(V128));
  const groups = Math.floor(width / 4); // whole vectors per panel row
  // element (r, k) of the operand: at src + 4·(k·ld + r) when trans, src + 4·(r·ld + k) otherwise
  const elem = (r: Code, kk: Code): Code =>
    i32add(
      get(src),
      i32mul(select(i32add(i32mul(kk, get(ld)), r), i32add(i32mul(r, get(ld)), kk), get(trans)), i32(4)),
    );
  // Full panel, transposed operand: the panel's values of one k are contiguous, `width` floats.
  const fastTrans = (): Code =>
    cat(
      set(base, elem(i32add(get(r0), get(p)), get(k0))),
      forStep(
        k,
        i32(0),
        get(kc),
        1,
        set(rowPtr, i32add(get(out), i32mul(get(k), i32(4 * width)))),
        ...Array.from({ length: Math.floor(width / 4) }, (_, q) =>
          vstore(get(rowPtr), vload(get(base), 16 * q), 16 * q),
        ),
        // A width that is not a multiple of 4 (6-row panels): the last two floats as one 8-byte copy.
        ...(width % 4 >= 2 ? [i64store(get(rowPtr), i64load(get(base), 16 * groups), 16 * groups)] : []),
        ...(width % 2 === 1 ? [f32store(get(rowPtr), f32load(get(base), 4 * (width - 1)), 4 * (width - 1))] : []),
        set(base, i32add(get(base), get(ldb))),
      ),
    );
  // Full panel, plain operand: each panel row is contiguous in k; 4 rows × 4 k transposed in
  // registers; rows past the last group of 4 (6-row panels) one float at a time.
  const fastPlain = (): Code =>
    cat(
      ...Array.from({ length: width % 4 }, (_, i) =>
        cat(
          set(rowPtr, elem(i32add(i32add(get(r0), get(p)), i32(4 * groups + i)), get(k0))),
          set(base, i32add(get(out), i32(4 * (4 * groups + i)))),
          forStep(
            k,
            i32(0),
            get(kc),
            1,
            f32store(get(base), f32load(get(rowPtr))),
            set(rowPtr, i32add(get(rowPtr), i32(4))),
            set(base, i32add(get(base), i32(4 * width))),
          ),
        ),
      ),
      ...Array.from({ length: groups }, (_, g) =>
        cat(
          ...rp.map((ptr, i) => set(ptr, elem(i32add(i32add(get(r0), get(p)), i32(4 * g + i)), get(k0)))),
          forStep(
            k,
            i32(0),
            get(kc),
            4,
            ...v.map((x, i) => set(x, vload(at(get(rp[i]!), get(k))))),
            set(tt[0]!, vshuffle32(get(v[0]!), get(v[1]!), [0, 4, 1, 5])),
            set(tt[1]!, vshuffle32(get(v[0]!), get(v[1]!), [2, 6, 3, 7])),
            set(tt[2]!, vshuffle32(get(v[2]!), get(v[3]!), [0, 4, 1, 5])),
            set(tt[3]!, vshuffle32(get(v[2]!), get(v[3]!), [2, 6, 3, 7])),
            set(rowPtr, i32add(get(out), i32mul(get(k), i32(4 * width)))),
            vstore(get(rowPtr), vshuffle32(get(tt[0]!), get(tt[2]!), [0, 1, 4, 5]), 16 * g),
            vstore(get(rowPtr), vshuffle32(get(tt[0]!), get(tt[2]!), [2, 3, 6, 7]), 16 * g + 4 * width),
            vstore(get(rowPtr), vshuffle32(get(tt[1]!), get(tt[3]!), [0, 1, 4, 5]), 16 * g + 8 * width),
            vstore(get(rowPtr), vshuffle32(get(tt[1]!), get(tt[3]!), [2, 3, 6, 7]), 16 * g + 12 * width),
          ),
          forStep(
            k,
            get(k),
            get(kc),
            1,
            ...rp.map((ptr, i) =>
              f32store(
                i32add(get(out), i32mul(i32add(i32mul(get(k), i32(width)), i32(4 * g + i)), i32(4))),
                f32load(at(get(ptr), get(k))),
              ),
            ),
          ),
        ),
      ),
    );
  // Edge panel: element by element, rows past `rows` zero.
  const slow = (): Code =>
    forStep(
      w,
      i32(0),
      i32(width),
      1,
      ifElse(
        i32ltS(get(w), get(valid)),
        [
          set(rowPtr, elem(i32add(i32add(get(r0), get(p)), get(w)), get(k0))),
          set(stride, select(get(ldb), i32(4), get(trans))),
          forStep(
            k,
            i32(0),
            get(kc),
            1,
            f32store(
              i32add(get(out), i32mul(i32add(i32mul(get(k), i32(width)), get(w)), i32(4))),
              f32load(get(rowPtr)),
            ),
            set(rowPtr, i32add(get(rowPtr), get(stride))),
          ),
        ],
        [
          forStep(
            k,
            i32(0),
            get(kc),
            1,
            f32store(i32add(get(out), i32mul(i32add(i32mul(get(k), i32(width)), get(w)), i32(4))), f32(0)),
          ),
        ],
      ),
    );
  fn.emit(
    set(ldb, i32mul(get(ld), i32(4))),
    forStep(
      p,
      i32(0),
      i32add(get(rows), i32(width - 1)),
      width,
      set(valid, min(fn, i32sub(get(rows), get(p)), i32(width))),
      set(out, i32add(get(dst), i32mul(i32mul(get(p), get(kc)), i32(4)))),
      ifElse(i32eq(get(valid), i32(width)), [ifElse(get(trans), [fastTrans()], [fastPlain()])], [slow()]),
    ),
  );
  return fn;
}

/**
 * (m, n, k, a, lda, aTrans, b, ldb, bTrans, c, ldc, accumulate, work): C[m, n] = op(A)·op(B), or
 * C += op(A)·op(B) when `accumulate`. A is [m, k] (or [k, m] when aTrans), B is [k, n] (or [n, k]
 * when bTrans), all row-major with the given leading dimensions; `work` holds gemmWorkBytes(g).
 * `indices` are the module positions of the micro-kernel and the two packing functions.
 */
function gemmDriver(g: GemmConfig, indices: { micro: number; packA: number; packB: number }): Fn {
  const { mr: MR, nr: NR, mc: MC, kc: KC, nc: NC } = g;
  const fn = new Fn('gemm', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [m, n, kk, a, lda, aTrans, b, ldb, bTrans, c, ldc, accumulate, work] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
  ];
  const jc = fn.local(I32);
  const pc = fn.local(I32);
  const ic = fn.local(I32);
  const jr = fn.local(I32);
  const ir = fn.local(I32);
  const nc = fn.local(I32);
  const kc = fn.local(I32);
  const mc = fn.local(I32);
  const acc = fn.local(I32);
  const ap = fn.local(I32);
  const bp = fn.local(I32);
  const tile = fn.local(I32);
  fn.emit(
    set(ap, get(work)),
    set(bp, i32add(get(work), i32(MC * KC * 4))),
    set(tile, i32add(get(work), i32((MC * KC + KC * NC) * 4))),
    // An empty inner dimension: C = 0 (or unchanged when accumulating).
    ifThen(
      i32and(i32ltS(get(kk), i32(1)), i32eq(get(accumulate), i32(0))),
      forStep(
        ic,
        i32(0),
        get(m),
        1,
        forStep(
          jc,
          i32(0),
          get(n),
          1,
          f32store(i32add(get(c), i32mul(i32add(i32mul(get(ic), get(ldc)), get(jc)), i32(4))), f32(0)),
        ),
      ),
    ),
    forStep(
      jc,
      i32(0),
      i32add(get(n), i32(NC - 1)),
      NC,
      set(nc, min(fn, i32sub(get(n), get(jc)), i32(NC))),
      forStep(
        pc,
        i32(0),
        i32add(get(kk), i32(KC - 1)),
        KC,
        set(kc, min(fn, i32sub(get(kk), get(pc)), i32(KC))),
        call(indices.packB, get(b), get(ldb), i32eq(get(bTrans), i32(0)), get(jc), get(pc), get(nc), get(kc), get(bp)),
        set(acc, select(i32(1), get(accumulate), i32gtS(get(pc), i32(0)))),
        forStep(
          ic,
          i32(0),
          i32add(get(m), i32(MC - 1)),
          MC,
          set(mc, min(fn, i32sub(get(m), get(ic)), i32(MC))),
          call(indices.packA, get(a), get(lda), get(aTrans), get(ic), get(pc), get(mc), get(kc), get(ap)),
          forStep(
            jr,
            i32(0),
            i32add(get(nc), i32(NR - 1)),
            NR,
            forStep(
              ir,
              i32(0),
              i32add(get(mc), i32(MR - 1)),
              MR,
              call(
                indices.micro,
                i32add(get(ap), i32mul(i32mul(get(ir), get(kc)), i32(4))),
                i32add(get(bp), i32mul(i32mul(get(jr), get(kc)), i32(4))),
                get(kc),
                i32add(
                  get(c),
                  i32mul(i32add(i32mul(i32add(get(ic), get(ir)), get(ldc)), i32add(get(jc), get(jr))), i32(4)),
                ),
                i32mul(get(ldc), i32(4)),
                get(acc),
                min(fn, i32sub(get(mc), get(ir)), i32(MR)),
                min(fn, i32sub(get(nc), get(jr)), i32(NR)),
                get(tile),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  return fn;
}

/**
 * (m, n, k, a, lda, b, ldb, c, ldc, ldcCol): C[m, n] = A[m, k]·B[n, k]ᵀ for few rows (a decoding step),
 * element (i, j) stored at c + 4·(i·ldc + j·ldcCol) (ldcCol 1 for row-major C; swapping A and B
 * and the two strides computes the same product with B as the streamed operand):
 * no packing; passes of `rowsPerPass` rows of A read each row of B once (`colsPerIter` B rows at
 * a time, four-lane dot products, horizontal sums at the end). Short passes repeat their last row.
 * (4 rows × 2 columns measured best: ~26 GFLOP/s up to 16 rows; 8 × 1 spills registers.)
 */
function gemvTKernel(name: string, rowsPerPass: number, colsPerIter: number): Fn {
  const fn = new Fn(name, [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [m, n, kk, a, lda, b, ldb, c, ldc, ldcCol] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const R = rowsPerPass;
  const C = colsPerIter;
  const r0 = fn.local(I32);
  const j = fn.local(I32);
  const k = fn.local(I32);
  const rows = fn.local(I32);
  const bp = Array.from({ length: C }, () => fn.local(I32)); // B row pointers
  const ar = Array.from({ length: R }, () => fn.local(I32)); // A row pointers
  const acc = Array.from({ length: R * C }, () => fn.local(V128)); // [row][column]
  const sc = Array.from({ length: R * C }, () => fn.local(F32)); // scalar tails
  const x = fn.local(V128);
  const w = Array.from({ length: C }, () => fn.local(V128));
  const tmp = fn.local(V128);
  const xs = fn.local(F32);
  const rowAddr = (rr: number) => i32add(get(a), i32mul(i32mul(i32add(get(r0), i32(rr)), get(lda)), i32(4)));
  const outAddr = (rr: number, col: Code) =>
    i32add(get(c), i32mul(i32add(i32mul(i32add(get(r0), i32(rr)), get(ldc)), i32mul(col, get(ldcCol))), i32(4)));
  const at4 = (p: number) => i32add(get(p), i32mul(get(k), i32(4)));
  /** Dot products of the pass's rows with `cols` rows of B starting at j. */
  const columns = (cols: number): Code =>
    cat(
      ...bp
        .slice(0, cols)
        .map((p, cc) => set(p, i32add(get(b), i32mul(i32mul(i32add(get(j), i32(cc)), get(ldb)), i32(4))))),
      ...acc.map((v) => set(v, vconst(0))),
      ...sc.map((v) => set(v, f32(0))),
      forStep(
        k,
        i32(0),
        get(kk),
        4,
        ...w.slice(0, cols).map((v, cc) => set(v, vload(at4(bp[cc]!)))),
        ...ar.map((p, rr) =>
          cat(
            set(x, vload(at4(p))),
            ...w
              .slice(0, cols)
              .map((v, cc) => set(acc[rr * C + cc]!, vadd(get(acc[rr * C + cc]!), vmul(get(x), get(v))))),
          ),
        ),
      ),
      forStep(
        k,
        get(k),
        get(kk),
        1,
        ...ar.map((p, rr) =>
          cat(
            set(xs, f32load(at4(p))),
            ...bp
              .slice(0, cols)
              .map((q, cc) => set(sc[rr * C + cc]!, f32add(get(sc[rr * C + cc]!), f32mul(get(xs), f32load(at4(q)))))),
          ),
        ),
      ),
      ...Array.from({ length: R }, (_, rr) =>
        ifThen(
          i32ltS(i32(rr), get(rows)),
          ...Array.from({ length: cols }, (_, cc) =>
            f32store(
              outAddr(rr, i32add(get(j), i32(cc))),
              f32add(vhsum(get(acc[rr * C + cc]!), tmp), get(sc[rr * C + cc]!)),
            ),
          ),
        ),
      ),
    );
  fn.emit(
    forStep(
      r0,
      i32(0),
      i32add(get(m), i32(R - 1)),
      R,
      set(rows, min(fn, i32sub(get(m), get(r0)), i32(R))),
      ...ar.map((p, rr) => set(p, select(rowAddr(rr), rowAddr(0), i32ltS(i32(rr), get(rows))))),
      forStep(j, i32(0), get(n), C, columns(C)),
      ...(C > 1 ? [forStep(j, get(j), get(n), 1, columns(1))] : []),
    ),
  );
  return fn;
}

/**
 * The gemm functions, to be placed at module positions `base`, `base + 1`, … (the driver calls
 * the others by position); the driver is exported as `gemm`.
 */
export function gemmFunctions(base: number, g: GemmConfig = GEMM_PLAIN): Fn[] {
  if (g.nr % 4 !== 0 || g.mc % g.mr !== 0 || g.nc % g.nr !== 0)
    throw new Error(`gemm: NR must be a multiple of 4, MC of MR and NC of NR (got ${JSON.stringify(g)})`);
  return [
    microKernel(g),
    packKernel('gemmPackA', g.mr),
    packKernel('gemmPackB', g.nr),
    gemmDriver(g, { micro: base, packA: base + 1, packB: base + 2 }),
    gemvTKernel('gemvT', 4, 2),
  ];
}
