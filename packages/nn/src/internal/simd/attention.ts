// SIMD pieces of the fused causal attention (the products themselves are gemm calls): the causal
// row softmax and its backward, and the gathers of query/key rows with rotary embeddings applied
// (rotate-half layout) and their transposed scatter. Pointers are byte offsets, leading
// dimensions in elements. Internal.
import {
  at,
  type Code,
  F32,
  f32,
  f32add,
  f32div,
  f32load,
  f32max,
  f32mul,
  f32store,
  f32sub,
  Fn,
  forStep,
  get,
  I32,
  i32,
  i32add,
  i32mul,
  i32ltS,
  ifElse,
  select,
  set,
  V128,
  vadd,
  vconst,
  vexp,
  vhsum,
  vlane,
  vload,
  vloadSplat,
  vpmax,
  vmul,
  vsplat,
  vstore,
  vsub,
} from './asm.js';

/**
 * (p, rows, ld, firstQuery, width): row r is query t = firstQuery + r over keys 0..width−1; the
 * softmax over keys 0..min(t, width−1) in place, the keys after it set to 0.
 */
export function causalSoftmaxKernel(): Fn {
  const fn = new Fn('causalSoftmax', [I32, I32, I32, I32, I32]);
  const [p, rows, ld, first, width] = [0, 1, 2, 3, 4];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const row = fn.local(I32);
  const valid = fn.local(I32);
  const t1 = fn.local(I32);
  const acc = fn.local(V128);
  const tmp = fn.local(V128);
  const vm = fn.local(V128);
  const e = fn.local(V128);
  const t = fn.local(V128);
  const nn = fn.local(V128);
  const m = fn.local(F32);
  const sum = fn.local(F32);
  fn.emit(
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(row, i32add(get(p), i32mul(i32mul(get(r), get(ld)), i32(4)))),
      set(t1, i32add(i32add(get(first), get(r)), i32(1))),
      set(valid, select(get(t1), get(width), i32ltS(get(t1), get(width)))),
      set(acc, vconst(-Infinity)),
      forStep(j, i32(0), get(valid), 4, set(acc, vpmax(get(acc), vload(at(get(row), get(j)))))),
      set(tmp, get(acc)),
      set(m, f32max(f32max(vlane(get(tmp), 0), vlane(get(tmp), 1)), f32max(vlane(get(tmp), 2), vlane(get(tmp), 3)))),
      forStep(j, get(j), get(valid), 1, set(m, f32max(get(m), f32load(at(get(row), get(j)))))),
      set(vm, vsplat(get(m))),
      set(acc, vconst(0)),
      forStep(
        j,
        i32(0),
        get(valid),
        4,
        set(e, vexp(vsub(vload(at(get(row), get(j))), get(vm)), t, nn)),
        vstore(at(get(row), get(j)), get(e)),
        set(acc, vadd(get(acc), get(e))),
      ),
      set(sum, vhsum(get(acc), tmp)),
      forStep(
        j,
        get(j),
        get(valid),
        1,
        set(e, vexp(vsub(vloadSplat(at(get(row), get(j))), get(vm)), t, nn)),
        f32store(at(get(row), get(j)), vlane(get(e), 0)),
        set(sum, f32add(get(sum), vlane(get(e), 0))),
      ),
      set(tmp, vsplat(f32div(f32(1), get(sum)))),
      forStep(j, i32(0), get(valid), 4, vstore(at(get(row), get(j)), vmul(vload(at(get(row), get(j))), get(tmp)))),
      forStep(
        j,
        get(j),
        get(valid),
        1,
        f32store(at(get(row), get(j)), f32mul(f32load(at(get(row), get(j))), vlane(get(tmp), 0))),
      ),
      forStep(j, get(valid), get(width), 1, f32store(at(get(row), get(j)), f32(0))),
    ),
  );
  return fn;
}

/**
 * (p, dp, rows, ld, firstQuery, width): the softmax backward in place of dp,
 * dS = P ⊙ (dP − Σ_k P·dP) over the keys query t = firstQuery + r sees, 0 after them.
 */
export function causalSoftmaxGradKernel(): Fn {
  const fn = new Fn('causalSoftmaxGrad', [I32, I32, I32, I32, I32, I32]);
  const [p, dp, rows, ld, first, width] = [0, 1, 2, 3, 4, 5];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const rowP = fn.local(I32);
  const rowD = fn.local(I32);
  const valid = fn.local(I32);
  const t1 = fn.local(I32);
  const acc = fn.local(V128);
  const tmp = fn.local(V128);
  const vd = fn.local(V128);
  const dot = fn.local(F32);
  fn.emit(
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(rowP, i32add(get(p), i32mul(i32mul(get(r), get(ld)), i32(4)))),
      set(rowD, i32add(get(dp), i32mul(i32mul(get(r), get(ld)), i32(4)))),
      set(t1, i32add(i32add(get(first), get(r)), i32(1))),
      set(valid, select(get(t1), get(width), i32ltS(get(t1), get(width)))),
      set(acc, vconst(0)),
      forStep(
        j,
        i32(0),
        get(valid),
        4,
        set(acc, vadd(get(acc), vmul(vload(at(get(rowP), get(j))), vload(at(get(rowD), get(j)))))),
      ),
      set(dot, vhsum(get(acc), tmp)),
      forStep(
        j,
        get(j),
        get(valid),
        1,
        set(dot, f32add(get(dot), f32mul(f32load(at(get(rowP), get(j))), f32load(at(get(rowD), get(j)))))),
      ),
      set(vd, vsplat(get(dot))),
      forStep(
        j,
        i32(0),
        get(valid),
        4,
        vstore(at(get(rowD), get(j)), vmul(vload(at(get(rowP), get(j))), vsub(vload(at(get(rowD), get(j))), get(vd)))),
      ),
      forStep(
        j,
        get(j),
        get(valid),
        1,
        f32store(
          at(get(rowD), get(j)),
          f32mul(f32load(at(get(rowP), get(j))), f32sub(f32load(at(get(rowD), get(j))), get(dot))),
        ),
      ),
      forStep(j, get(valid), get(width), 1, f32store(at(get(rowD), get(j)), f32(0))),
    ),
  );
  return fn;
}

/**
 * Rows of head vectors with rotary embeddings in the rotate-half layout, times `scale`:
 * the gather (src, ldSrc, dst, ldDst, rows, d, cos, sin, scale, rope) writes
 * y = scale·(x·cos + rotate_half(x)·sin) (scale·x without rope); the scatter (same arguments)
 * writes the transposed map, dx = scale·Rᵀ·dy. cos/sin are [rows, d]; d is even.
 */
export function ropeKernel(backward: boolean): Fn {
  const fn = new Fn(backward ? 'ropeScatter' : 'ropeGather', [I32, I32, I32, I32, I32, I32, I32, I32, F32, I32]);
  const [src, ldSrc, dst, ldDst, rows, d, cos, sin, scale, rope] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const h = fn.local(I32);
  const xr = fn.local(I32);
  const yr = fn.local(I32);
  const cr = fn.local(I32);
  const sr = fn.local(I32);
  const vs = fn.local(V128);
  const a = fn.local(V128);
  const b = fn.local(V128);
  const sa = fn.local(F32);
  const sb = fn.local(F32);
  // forward:  y[j] = a·c[j] − b·s[j],  y[j+h] = b·c[j+h] + a·s[j+h]   (a = x[j], b = x[j+h])
  // backward: x[j] = a·c[j] + b·s[j+h], x[j+h] = b·c[j+h] − a·s[j]   (a = dy[j], b = dy[j+h])
  const lo = (av: Code, bv: Code, c: Code, s: Code, sHi: Code, mul: typeof vmul, add: typeof vadd, sub: typeof vsub) =>
    backward ? add(mul(av, c), mul(bv, sHi)) : sub(mul(av, c), mul(bv, s));
  const hi = (
    av: Code,
    bv: Code,
    cHi: Code,
    s: Code,
    sHi: Code,
    mul: typeof vmul,
    add: typeof vadd,
    sub: typeof vsub,
  ) => (backward ? sub(mul(bv, cHi), mul(av, s)) : add(mul(bv, cHi), mul(av, sHi)));
  const vAt = (base: number, off: Code) => vload(at(get(base), off));
  const sAt = (base: number, off: Code) => f32load(at(get(base), off));
  const jh = () => i32add(get(j), get(h));
  fn.emit(
    set(vs, vsplat(get(scale))),
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(xr, at(get(src), i32mul(get(r), get(ldSrc)))),
      set(yr, at(get(dst), i32mul(get(r), get(ldDst)))),
      set(cr, at(get(cos), i32mul(get(r), get(d)))),
      set(sr, at(get(sin), i32mul(get(r), get(d)))),
      ifElse(
        get(rope),
        [
          set(h, i32div2(get(d))),
          forStep(
            j,
            i32(0),
            get(h),
            4,
            set(a, vAt(xr, get(j))),
            set(b, vAt(xr, jh())),
            vstore(
              at(get(yr), get(j)),
              vmul(get(vs), lo(get(a), get(b), vAt(cr, get(j)), vAt(sr, get(j)), vAt(sr, jh()), vmul, vadd, vsub)),
            ),
            vstore(
              at(get(yr), jh()),
              vmul(get(vs), hi(get(a), get(b), vAt(cr, jh()), vAt(sr, get(j)), vAt(sr, jh()), vmul, vadd, vsub)),
            ),
          ),
          forStep(
            j,
            get(j),
            get(h),
            1,
            set(sa, sAt(xr, get(j))),
            set(sb, sAt(xr, jh())),
            f32store(
              at(get(yr), get(j)),
              f32mul(
                get(scale),
                lo(get(sa), get(sb), sAt(cr, get(j)), sAt(sr, get(j)), sAt(sr, jh()), f32mul, f32add, f32sub),
              ),
            ),
            f32store(
              at(get(yr), jh()),
              f32mul(
                get(scale),
                hi(get(sa), get(sb), sAt(cr, jh()), sAt(sr, get(j)), sAt(sr, jh()), f32mul, f32add, f32sub),
              ),
            ),
          ),
        ],
        [
          forStep(j, i32(0), get(d), 4, vstore(at(get(yr), get(j)), vmul(get(vs), vAt(xr, get(j))))),
          forStep(j, get(j), get(d), 1, f32store(at(get(yr), get(j)), f32mul(get(scale), sAt(xr, get(j))))),
        ],
      ),
    ),
  );
  return fn;
}

/** d / 2 for an even i32. */
const i32div2 = (x: Code): Code => [...x, ...i32(1), 0x75]; // i32.shr_s

/**
 * (a, b, ldb, out, k, n): out[0..n) = Σ_{i<k} a[i]·b[i·ldb .. i·ldb + n) — a row vector times a
 * matrix without packing (one decoding query's probabilities times the cached values).
 */
export function axpyRowsKernel(): Fn {
  const fn = new Fn('axpyRows', [I32, I32, I32, I32, I32, I32]);
  const [a, b, ldb, out, k, n] = [0, 1, 2, 3, 4, 5];
  const i = fn.local(I32);
  const j = fn.local(I32);
  const row = fn.local(I32);
  const va = fn.local(V128);
  const sa = fn.local(F32);
  fn.emit(
    forStep(j, i32(0), get(n), 4, vstore(at(get(out), get(j)), vconst(0))),
    forStep(j, get(j), get(n), 1, f32store(at(get(out), get(j)), f32(0))),
    forStep(
      i,
      i32(0),
      get(k),
      1,
      set(row, at(get(b), i32mul(get(i), get(ldb)))),
      set(sa, f32load(at(get(a), get(i)))),
      set(va, vsplat(get(sa))),
      forStep(
        j,
        i32(0),
        get(n),
        4,
        vstore(at(get(out), get(j)), vadd(vload(at(get(out), get(j))), vmul(get(va), vload(at(get(row), get(j)))))),
      ),
      forStep(
        j,
        get(j),
        get(n),
        1,
        f32store(
          at(get(out), get(j)),
          f32add(f32load(at(get(out), get(j))), f32mul(get(sa), f32load(at(get(row), get(j))))),
        ),
      ),
    ),
  );
  return fn;
}
