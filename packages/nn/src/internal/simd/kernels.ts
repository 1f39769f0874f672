// The fused kernels as WebAssembly SIMD functions over tfjs's wasm heap (byte offsets in, results
// written in place), built once per backend instance. Pointers are byte offsets of float32
// arrays (int32 for labels); counts are element counts. Internal.
import {
  at,
  block,
  br,
  brIf,
  type Code,
  encodeModule,
  F32,
  F64,
  f32,
  f32add,
  f32div,
  f32FromI32,
  f32gt,
  f32load,
  f32max,
  f32mul,
  f32sqrt,
  f32store,
  f32sub,
  f64,
  f64add,
  f64FromF32,
  Fn,
  forStep,
  get,
  I32,
  i32,
  i32add,
  i32gtS,
  i32mul,
  ifElse,
  loop,
  select,
  set,
  V128,
  vadd,
  vconst,
  vdiv,
  vexp,
  vhsum,
  vlane,
  vload,
  vloadSplat,
  vpmax,
  vmul,
  vneg,
  vsplat,
  vsqrt,
  vstore,
  vsub,
} from './asm.js';
import { axpyRowsKernel, causalSoftmaxGradKernel, causalSoftmaxKernel, ropeKernel } from './attention.js';
import { GEMM_FMA, GEMM_PLAIN, GEMM_WORK_BYTES, gemmFunctions } from './gemm.js';
import { type GemmVariant, gemmVariant } from './features.js';

const cat = (...parts: Code[]): Code => parts.flat();
const vzero = (): Code => vconst(0);
const one = (): Code => vconst(1);

/** A lane-wise map over equally long arrays: `out[i] = f(in_0[i], …)`, vector body plus scalar tail. */
function elementwise(name: string, inputs: number, f: (fn: Fn, xs: Code[]) => Code): Fn {
  const fn = new Fn(name, [...new Array<number>(inputs + 2).fill(I32)] as (typeof I32)[]);
  const out = inputs;
  const n = inputs + 1;
  const i = fn.local(I32);
  const ins = Array.from({ length: inputs }, (_, k) => k);
  fn.emit(
    forStep(
      i,
      i32(0),
      get(n),
      4,
      vstore(
        at(get(out), get(i)),
        f(
          fn,
          ins.map((p) => vload(at(get(p), get(i)))),
        ),
      ),
    ),
    forStep(
      i,
      get(i),
      get(n),
      1,
      f32store(
        at(get(out), get(i)),
        vlane(
          f(
            fn,
            ins.map((p) => vloadSplat(at(get(p), get(i)))),
          ),
          0,
        ),
      ),
    ),
  );
  return fn;
}

/** σ(x) = 1 / (1 + e^−x) as code, with x already in local `vx`. */
function sigmoidOf(vx: number, t: number, nn: number): Code {
  return vdiv(one(), vadd(one(), vexp(vneg(get(vx)), t, nn)));
}

function siluKernel(): Fn {
  return elementwise('silu', 1, (fn, [x]) => {
    const vx = fn.local(V128);
    const t = fn.local(V128);
    const nn = fn.local(V128);
    return cat(set(vx, x!), vmul(get(vx), sigmoidOf(vx, t, nn)));
  });
}

function siluGradKernel(): Fn {
  // inputs: dy, x
  return elementwise('siluGrad', 2, (fn, [dy, x]) => {
    const vx = fn.local(V128);
    const vs = fn.local(V128);
    const t = fn.local(V128);
    const nn = fn.local(V128);
    return cat(
      set(vx, x!),
      set(vs, sigmoidOf(vx, t, nn)),
      vmul(dy!, vmul(get(vs), vadd(one(), vmul(get(vx), vsub(one(), get(vs)))))),
    );
  });
}

function scaleKernel(): Fn {
  // (x, out, n, c): out = x · c
  const fn = new Fn('scale', [I32, I32, I32, F32]);
  const [x, out, n, c] = [0, 1, 2, 3];
  const i = fn.local(I32);
  const vc = fn.local(V128);
  fn.emit(
    set(vc, vsplat(get(c))),
    forStep(i, i32(0), get(n), 4, vstore(at(get(out), get(i)), vmul(vload(at(get(x), get(i))), get(vc)))),
    forStep(i, get(i), get(n), 1, f32store(at(get(out), get(i)), f32mul(f32load(at(get(x), get(i))), get(c)))),
  );
  return fn;
}

/** Rows of [gate (h) | up (h)] → rows of h (forward) or dy rows of h → rows of 2h (backward). */
function swiGluKernel(backward: boolean): Fn {
  // forward (x, y, rows, h); backward (dy, x, dx, rows, h)
  const fn = backward ? new Fn('swiGluGrad', [I32, I32, I32, I32, I32]) : new Fn('swiGlu', [I32, I32, I32, I32]);
  const [dyP, xP, outP, rows, h] = backward ? [0, 1, 2, 3, 4] : [-1, 0, 1, 2, 3];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const xr = fn.local(I32); // byte offset of the row in x
  const orow = fn.local(I32); // byte offset of the row in the output
  const dr = fn.local(I32); // byte offset of the row in dy (backward)
  const g = fn.local(V128);
  const u = fn.local(V128);
  const s = fn.local(V128);
  const t = fn.local(V128);
  const nn = fn.local(V128);
  const h4 = fn.local(I32);
  const body = (load: (addr: Code) => Code, store: (addr: Code, v: Code) => Code): Code =>
    backward
      ? cat(
          set(g, load(at(get(xr), get(j)))),
          set(u, load(at(get(xr), i32add(get(j), get(h))))),
          set(s, sigmoidOf(g, t, nn)),
          set(t, load(at(get(dr), get(j)))), // dy
          // d gate = dy·up·σ(g)·(1 + g(1 − σ(g))), d up = dy·g·σ(g)
          store(
            at(get(orow), get(j)),
            vmul(vmul(get(t), get(u)), vmul(get(s), vadd(one(), vmul(get(g), vsub(one(), get(s)))))),
          ),
          store(at(get(orow), i32add(get(j), get(h))), vmul(get(t), vmul(get(g), get(s)))),
        )
      : cat(
          set(g, load(at(get(xr), get(j)))),
          store(
            at(get(orow), get(j)),
            vmul(vmul(get(g), sigmoidOf(g, t, nn)), load(at(get(xr), i32add(get(j), get(h))))),
          ),
        );
  fn.emit(
    set(h4, i32mul(get(h), i32(4))),
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(xr, i32add(get(xP), i32mul(get(r), i32mul(get(h4), i32(2))))),
      set(orow, i32add(get(outP), i32mul(get(r), backward ? i32mul(get(h4), i32(2)) : get(h4)))),
      backward ? set(dr, i32add(get(dyP), i32mul(get(r), get(h4)))) : [],
      forStep(j, i32(0), get(h), 4, body(vload, vstore)),
      forStep(
        j,
        get(j),
        get(h),
        1,
        body(vloadSplat, (addr, v) => f32store(addr, vlane(v, 0))),
      ),
    ),
  );
  return fn;
}

/** Σ over a row of length d of `term(j)` (a v128 for 4 lanes / an f32 for one), as an f32. */
function rowSum(
  j: number,
  d: number,
  acc: number,
  sum: number,
  tmp: number,
  vterm: (j: number) => Code,
  sterm: (j: number) => Code,
): Code {
  return cat(
    set(acc, vzero()),
    forStep(j, i32(0), get(d), 4, set(acc, vadd(get(acc), vterm(j)))),
    set(sum, vhsum(get(acc), tmp)),
    forStep(j, get(j), get(d), 1, set(sum, f32add(get(sum), sterm(j)))),
  );
}

function rmsNormKernel(): Fn {
  // (x, w, y, rstd, rows, d, eps)
  const fn = new Fn('rmsNorm', [I32, I32, I32, I32, I32, I32, F32]);
  const [x, w, y, rstd, rows, d, eps] = [0, 1, 2, 3, 4, 5, 6];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const xr = fn.local(I32);
  const yr = fn.local(I32);
  const acc = fn.local(V128);
  const tmp = fn.local(V128);
  const vs = fn.local(V128);
  const ss = fn.local(F32);
  const s = fn.local(F32);
  fn.emit(
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(xr, at(get(x), i32mul(get(r), get(d)))),
      set(yr, at(get(y), i32mul(get(r), get(d)))),
      rowSum(
        j,
        d,
        acc,
        ss,
        tmp,
        (jj) => cat(set(tmp, vload(at(get(xr), get(jj)))), vmul(get(tmp), get(tmp))),
        (jj) => f32mul(f32load(at(get(xr), get(jj))), f32load(at(get(xr), get(jj)))),
      ),
      set(s, f32div(f32(1), f32sqrt(f32add(f32div(get(ss), f32FromI32(get(d))), get(eps))))),
      f32store(at(get(rstd), get(r)), get(s)),
      set(vs, vsplat(get(s))),
      forStep(
        j,
        i32(0),
        get(d),
        4,
        vstore(at(get(yr), get(j)), vmul(vmul(vload(at(get(xr), get(j))), get(vs)), vload(at(get(w), get(j))))),
      ),
      forStep(
        j,
        get(j),
        get(d),
        1,
        f32store(
          at(get(yr), get(j)),
          f32mul(f32mul(f32load(at(get(xr), get(j))), get(s)), f32load(at(get(w), get(j)))),
        ),
      ),
    ),
  );
  return fn;
}

/** Sets `count` floats at `ptr` to zero. */
function zeroFill(ptr: number, count: number, j: number): Code {
  return cat(
    forStep(j, i32(0), get(count), 4, vstore(at(get(ptr), get(j)), vzero())),
    forStep(j, get(j), get(count), 1, f32store(at(get(ptr), get(j)), f32(0))),
  );
}

function rmsNormGradKernel(): Fn {
  // (dy, x, w, rstd, dx, dw, rows, d): dw is accumulated (zeroed first)
  const fn = new Fn('rmsNormGrad', [I32, I32, I32, I32, I32, I32, I32, I32]);
  const [dy, x, w, rstd, dx, dw, rows, d] = [0, 1, 2, 3, 4, 5, 6, 7];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const off = fn.local(I32);
  const acc = fn.local(V128);
  const tmp = fn.local(V128);
  const vxh = fn.local(V128);
  const vdy = fn.local(V128);
  const vs = fn.local(V128);
  const vc = fn.local(V128);
  const s = fn.local(F32);
  const dot = fn.local(F32);
  const c = fn.local(F32);
  const ld = (base: number, jj: number) => vload(at(i32add(get(base), get(off)), get(jj)));
  const sld = (base: number, jj: number) => f32load(at(i32add(get(base), get(off)), get(jj)));
  fn.emit(
    zeroFill(dw, d, j),
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(off, i32mul(i32mul(get(r), get(d)), i32(4))),
      set(s, f32load(at(get(rstd), get(r)))),
      set(vs, vsplat(get(s))),
      // dot = Σ dy·w·x̂ and dw += dy·x̂, with x̂ = x·s
      set(acc, vzero()),
      forStep(
        j,
        i32(0),
        get(d),
        4,
        set(vxh, vmul(ld(x, j), get(vs))),
        set(vdy, ld(dy, j)),
        vstore(at(get(dw), get(j)), vadd(vload(at(get(dw), get(j))), vmul(get(vdy), get(vxh)))),
        set(acc, vadd(get(acc), vmul(vmul(get(vdy), vload(at(get(w), get(j)))), get(vxh)))),
      ),
      set(dot, vhsum(get(acc), tmp)),
      forStep(
        j,
        get(j),
        get(d),
        1,
        f32store(
          at(get(dw), get(j)),
          f32add(f32load(at(get(dw), get(j))), f32mul(sld(dy, j), f32mul(sld(x, j), get(s)))),
        ),
        set(dot, f32add(get(dot), f32mul(f32mul(sld(dy, j), f32load(at(get(w), get(j)))), f32mul(sld(x, j), get(s))))),
      ),
      set(c, f32div(get(dot), f32FromI32(get(d)))),
      set(vc, vsplat(f32mul(get(c), get(s)))),
      // dx = s·(dy·w − x·s·c)
      forStep(
        j,
        i32(0),
        get(d),
        4,
        vstore(
          at(i32add(get(dx), get(off)), get(j)),
          vmul(get(vs), vsub(vmul(ld(dy, j), vload(at(get(w), get(j)))), vmul(ld(x, j), get(vc)))),
        ),
      ),
      forStep(
        j,
        get(j),
        get(d),
        1,
        f32store(
          at(i32add(get(dx), get(off)), get(j)),
          f32mul(
            get(s),
            f32sub(f32mul(sld(dy, j), f32load(at(get(w), get(j)))), f32mul(sld(x, j), f32mul(get(c), get(s)))),
          ),
        ),
      ),
    ),
  );
  return fn;
}

function layerNormKernel(): Fn {
  // (x, w, b, y, mean, rstd, rows, d, eps)
  const fn = new Fn('layerNorm', [I32, I32, I32, I32, I32, I32, I32, I32, F32]);
  const [x, w, b, y, mean, rstd, rows, d, eps] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const off = fn.local(I32);
  const acc = fn.local(V128);
  const tmp = fn.local(V128);
  const vmu = fn.local(V128);
  const vs = fn.local(V128);
  const sum = fn.local(F32);
  const mu = fn.local(F32);
  const s = fn.local(F32);
  const ld = (base: number, jj: number) => vload(at(i32add(get(base), get(off)), get(jj)));
  const sld = (base: number, jj: number) => f32load(at(i32add(get(base), get(off)), get(jj)));
  fn.emit(
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(off, i32mul(i32mul(get(r), get(d)), i32(4))),
      rowSum(
        j,
        d,
        acc,
        sum,
        tmp,
        (jj) => ld(x, jj),
        (jj) => sld(x, jj),
      ),
      set(mu, f32div(get(sum), f32FromI32(get(d)))),
      set(vmu, vsplat(get(mu))),
      rowSum(
        j,
        d,
        acc,
        sum,
        tmp,
        (jj) => cat(set(tmp, vsub(ld(x, jj), get(vmu))), vmul(get(tmp), get(tmp))),
        (jj) => f32mul(f32sub(sld(x, jj), get(mu)), f32sub(sld(x, jj), get(mu))),
      ),
      set(s, f32div(f32(1), f32sqrt(f32add(f32div(get(sum), f32FromI32(get(d))), get(eps))))),
      f32store(at(get(mean), get(r)), get(mu)),
      f32store(at(get(rstd), get(r)), get(s)),
      set(vs, vsplat(get(s))),
      forStep(
        j,
        i32(0),
        get(d),
        4,
        vstore(
          at(i32add(get(y), get(off)), get(j)),
          vadd(vmul(vmul(vsub(ld(x, j), get(vmu)), get(vs)), vload(at(get(w), get(j)))), vload(at(get(b), get(j)))),
        ),
      ),
      forStep(
        j,
        get(j),
        get(d),
        1,
        f32store(
          at(i32add(get(y), get(off)), get(j)),
          f32add(
            f32mul(f32mul(f32sub(sld(x, j), get(mu)), get(s)), f32load(at(get(w), get(j)))),
            f32load(at(get(b), get(j))),
          ),
        ),
      ),
    ),
  );
  return fn;
}

function layerNormGradKernel(): Fn {
  // (dy, x, w, mean, rstd, dx, dw, db, rows, d): dw, db accumulated (zeroed first)
  const fn = new Fn('layerNormGrad', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [dy, x, w, mean, rstd, dx, dw, db, rows, d] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const off = fn.local(I32);
  const accG = fn.local(V128);
  const accGX = fn.local(V128);
  const tmp = fn.local(V128);
  const vxh = fn.local(V128);
  const vdy = fn.local(V128);
  const vg = fn.local(V128);
  const vmu = fn.local(V128);
  const vs = fn.local(V128);
  const vmg = fn.local(V128);
  const vmgx = fn.local(V128);
  const s = fn.local(F32);
  const mu = fn.local(F32);
  const sg = fn.local(F32);
  const sgx = fn.local(F32);
  const sxh = fn.local(F32);
  const sdy = fn.local(F32);
  const ld = (base: number, jj: number) => vload(at(i32add(get(base), get(off)), get(jj)));
  const sld = (base: number, jj: number) => f32load(at(i32add(get(base), get(off)), get(jj)));
  const dInv = (v: number) => f32div(get(v), f32FromI32(get(d)));
  fn.emit(
    zeroFill(dw, d, j),
    zeroFill(db, d, j),
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(off, i32mul(i32mul(get(r), get(d)), i32(4))),
      set(s, f32load(at(get(rstd), get(r)))),
      set(mu, f32load(at(get(mean), get(r)))),
      set(vs, vsplat(get(s))),
      set(vmu, vsplat(get(mu))),
      set(accG, vzero()),
      set(accGX, vzero()),
      forStep(
        j,
        i32(0),
        get(d),
        4,
        set(vxh, vmul(vsub(ld(x, j), get(vmu)), get(vs))),
        set(vdy, ld(dy, j)),
        vstore(at(get(dw), get(j)), vadd(vload(at(get(dw), get(j))), vmul(get(vdy), get(vxh)))),
        vstore(at(get(db), get(j)), vadd(vload(at(get(db), get(j))), get(vdy))),
        set(vg, vmul(get(vdy), vload(at(get(w), get(j))))),
        set(accG, vadd(get(accG), get(vg))),
        set(accGX, vadd(get(accGX), vmul(get(vg), get(vxh)))),
      ),
      set(sg, vhsum(get(accG), tmp)),
      set(sgx, vhsum(get(accGX), tmp)),
      forStep(
        j,
        get(j),
        get(d),
        1,
        set(sxh, f32mul(f32sub(sld(x, j), get(mu)), get(s))),
        set(sdy, sld(dy, j)),
        f32store(at(get(dw), get(j)), f32add(f32load(at(get(dw), get(j))), f32mul(get(sdy), get(sxh)))),
        f32store(at(get(db), get(j)), f32add(f32load(at(get(db), get(j))), get(sdy))),
        set(sg, f32add(get(sg), f32mul(get(sdy), f32load(at(get(w), get(j)))))),
        set(sgx, f32add(get(sgx), f32mul(f32mul(get(sdy), f32load(at(get(w), get(j)))), get(sxh)))),
      ),
      set(vmg, vsplat(dInv(sg))),
      set(vmgx, vsplat(dInv(sgx))),
      // dx = s·(dy·w − mean(g) − x̂·mean(g·x̂))
      forStep(
        j,
        i32(0),
        get(d),
        4,
        set(vxh, vmul(vsub(ld(x, j), get(vmu)), get(vs))),
        vstore(
          at(i32add(get(dx), get(off)), get(j)),
          vmul(get(vs), vsub(vsub(vmul(ld(dy, j), vload(at(get(w), get(j)))), get(vmg)), vmul(get(vxh), get(vmgx)))),
        ),
      ),
      forStep(
        j,
        get(j),
        get(d),
        1,
        set(sxh, f32mul(f32sub(sld(x, j), get(mu)), get(s))),
        f32store(
          at(i32add(get(dx), get(off)), get(j)),
          f32mul(
            get(s),
            f32sub(f32sub(f32mul(sld(dy, j), f32load(at(get(w), get(j)))), dInv(sg)), f32mul(get(sxh), dInv(sgx))),
          ),
        ),
      ),
    ),
  );
  return fn;
}

function softmaxRowsKernel(): Fn {
  // (x, probs, stats, rows, v): probs = softmax of each row; stats[2r] = row max, stats[2r+1] = Σ e^(x − max)
  const fn = new Fn('softmaxRows', [I32, I32, I32, I32, I32]);
  const [x, probs, stats, rows, v] = [0, 1, 2, 3, 4];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const off = fn.local(I32);
  const acc = fn.local(V128);
  const tmp = fn.local(V128);
  const vm = fn.local(V128);
  const e = fn.local(V128);
  const t = fn.local(V128);
  const nn = fn.local(V128);
  const m = fn.local(F32);
  const sum = fn.local(F32);
  const ld = (base: number, jj: number) => vload(at(i32add(get(base), get(off)), get(jj)));
  const sld = (base: number, jj: number) => f32load(at(i32add(get(base), get(off)), get(jj)));
  fn.emit(
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(off, i32mul(i32mul(get(r), get(v)), i32(4))),
      // max
      set(acc, vconst(-Infinity)),
      forStep(j, i32(0), get(v), 4, set(acc, vpmax(get(acc), ld(x, j)))),
      set(tmp, get(acc)),
      set(m, f32max(f32max(vlane(get(tmp), 0), vlane(get(tmp), 1)), f32max(vlane(get(tmp), 2), vlane(get(tmp), 3)))),
      forStep(j, get(j), get(v), 1, set(m, f32max(get(m), sld(x, j)))),
      set(vm, vsplat(get(m))),
      // e^(x − max), summed
      set(acc, vzero()),
      forStep(
        j,
        i32(0),
        get(v),
        4,
        set(e, vexp(vsub(ld(x, j), get(vm)), t, nn)),
        vstore(at(i32add(get(probs), get(off)), get(j)), get(e)),
        set(acc, vadd(get(acc), get(e))),
      ),
      set(sum, vhsum(get(acc), tmp)),
      forStep(
        j,
        get(j),
        get(v),
        1,
        set(e, vexp(vsub(vloadSplat(at(i32add(get(x), get(off)), get(j))), get(vm)), t, nn)),
        f32store(at(i32add(get(probs), get(off)), get(j)), vlane(get(e), 0)),
        set(sum, f32add(get(sum), vlane(get(e), 0))),
      ),
      f32store(at(get(stats), i32mul(get(r), i32(2))), get(m)),
      f32store(at(get(stats), i32add(i32mul(get(r), i32(2)), i32(1))), get(sum)),
      // normalise
      set(tmp, vsplat(f32div(f32(1), get(sum)))),
      forStep(j, i32(0), get(v), 4, vstore(at(i32add(get(probs), get(off)), get(j)), vmul(ld(probs, j), get(tmp)))),
      forStep(
        j,
        get(j),
        get(v),
        1,
        f32store(at(i32add(get(probs), get(off)), get(j)), f32mul(sld(probs, j), vlane(get(tmp), 0))),
      ),
    ),
  );
  return fn;
}

function adamWKernel(): Fn {
  // (p, g, m, v, pOut, mOut, vOut, n, scale, 1−β1, β2, 1−β2, decayFactor, stepSize, bc2Sqrt, eps)
  const fn = new Fn('adamW', [I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32]);
  const [p, g, m, v, pOut, mOut, vOut, n] = [0, 1, 2, 3, 4, 5, 6, 7];
  const consts = [8, 9, 10, 11, 12, 13, 14, 15];
  const i = fn.local(I32);
  const [vScale, vB1c, vB2, vB2c, vDecay, vStep, vBc2, vEps] = consts.map(() => fn.local(V128)) as number[];
  const gi = fn.local(V128);
  const mi = fn.local(V128);
  const vi = fn.local(V128);
  const step = (load: (a: Code) => Code, store: (a: Code, x: Code) => Code): Code =>
    cat(
      set(gi, vmul(load(at(get(g), get(i))), get(vScale!))),
      set(mi, load(at(get(m), get(i)))),
      set(mi, vadd(get(mi), vmul(vsub(get(gi), get(mi)), get(vB1c!)))),
      set(vi, vadd(vmul(load(at(get(v), get(i))), get(vB2!)), vmul(vmul(get(gi), get(gi)), get(vB2c!)))),
      store(at(get(mOut), get(i)), get(mi)),
      store(at(get(vOut), get(i)), get(vi)),
      store(
        at(get(pOut), get(i)),
        vsub(
          vmul(load(at(get(p), get(i))), get(vDecay!)),
          vmul(vdiv(get(mi), vadd(vdiv(vsqrt(get(vi)), get(vBc2!)), get(vEps!))), get(vStep!)),
        ),
      ),
    );
  fn.emit(
    ...consts.map((c, k) => set([vScale, vB1c, vB2, vB2c, vDecay, vStep, vBc2, vEps][k]!, vsplat(get(c)))),
    forStep(i, i32(0), get(n), 4, step(vload, vstore)),
    forStep(
      i,
      get(i),
      get(n),
      1,
      step(vloadSplat, (a, x) => f32store(a, vlane(x, 0))),
    ),
  );
  return fn;
}

function columnSumKernel(): Fn {
  // (x, out, rows, n): out[j] = Σ_r x[r·n + j], float32 accumulation
  const fn = new Fn('columnSum', [I32, I32, I32, I32]);
  const [x, out, rows, n] = [0, 1, 2, 3];
  const r = fn.local(I32);
  const j = fn.local(I32);
  const row = fn.local(I32);
  fn.emit(
    zeroFill(out, n, j),
    forStep(
      r,
      i32(0),
      get(rows),
      1,
      set(row, at(get(x), i32mul(get(r), get(n)))),
      forStep(
        j,
        i32(0),
        get(n),
        4,
        vstore(at(get(out), get(j)), vadd(vload(at(get(out), get(j))), vload(at(get(row), get(j))))),
      ),
      forStep(
        j,
        get(j),
        get(n),
        1,
        f32store(at(get(out), get(j)), f32add(f32load(at(get(out), get(j))), f32load(at(get(row), get(j))))),
      ),
    ),
  );
  return fn;
}

function sumSquaresKernel(): Fn {
  // (x, n) → f64: Σ x², accumulated in float32 lanes per block of 1024 values, blocks in float64
  const fn = new Fn('sumSquares', [I32, I32], [F64]);
  const [x, n] = [0, 1];
  const i = fn.local(I32);
  const end = fn.local(I32);
  const acc = fn.local(V128);
  const tmp = fn.local(V128);
  const total = fn.local(F64);
  fn.emit(
    set(total, f64(0)),
    set(i, i32(0)),
    block(
      loop(
        brIf(1, i32gtS(i32add(get(i), i32(4)), get(n))),
        set(end, select(get(n), i32add(get(i), i32(1024)), i32gtS(i32add(get(i), i32(1024)), get(n)))),
        set(acc, vzero()),
        forStep(
          i,
          get(i),
          get(end),
          4,
          set(tmp, vload(at(get(x), get(i)))),
          set(acc, vadd(get(acc), vmul(get(tmp), get(tmp)))),
        ),
        set(total, f64add(get(total), f64FromF32(vhsum(get(acc), tmp)))),
        br(0),
      ),
    ),
    forStep(
      i,
      get(i),
      get(n),
      1,
      set(total, f64add(get(total), f64FromF32(f32mul(f32load(at(get(x), get(i))), f32load(at(get(x), get(i))))))),
    ),
    get(total),
  );
  return fn;
}

/**
 * Energy-score distance means for α = 1 (`mode` 1) or α = 2 (`mode` 2), forward: out [2, B] with
 * row 0 the cross term mean_{n,m} ‖x_n − y_m‖^α and row 1 the self term mean_{n≠k} ‖x_n − x_k‖^α.
 * L must be a multiple of 4.
 */
function pairwiseKernel(backward: boolean): Fn {
  // forward (x, y, out, b, n, m, l, mode); backward (x, y, dOut, dx, dy, b, n, m, l, mode)
  const fn = backward
    ? new Fn('pairwiseGrad', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32])
    : new Fn('pairwise', [I32, I32, I32, I32, I32, I32, I32, I32]);
  const [x, y, outP, dxP, dyP, bN, nN, mN, lN, mode] = backward
    ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    : [0, 1, 2, -1, -1, 3, 4, 5, 6, 7];
  const p = fn.local(I32);
  const i = fn.local(I32);
  const j = fn.local(I32);
  const k = fn.local(I32);
  const xi = fn.local(I32);
  const zj = fn.local(I32); // the other point (y_j or x_j)
  const gzj = fn.local(I32); // its gradient row (dy_j or dx_j)
  const acc = fn.local(V128);
  const tmp = fn.local(V128);
  const dd = fn.local(V128);
  const vf = fn.local(V128);
  const sq = fn.local(F32);
  const total = fn.local(F32);
  const wc = fn.local(F32);
  const ws = fn.local(F32);
  const cnt = fn.local(I32);
  const rowBytes = () => i32mul(get(lN), i32(4));
  /** sq = ‖row at xi − row at zj‖² */
  const distance = (): Code =>
    cat(
      set(acc, vzero()),
      forStep(
        k,
        i32(0),
        get(lN),
        4,
        set(dd, vsub(vload(at(get(xi), get(k))), vload(at(get(zj), get(k))))),
        set(acc, vadd(get(acc), vmul(get(dd), get(dd)))),
      ),
      set(sq, vhsum(get(acc), tmp)),
    );
  // α = 1: ‖·‖ = √sq, slope (d‖·‖/d(diff) = diff·slope) 1/√sq (0 at 0); α = 2: sq, slope 2.
  const value = (): Code => ifElse(i32eqConst(mode, 1), [set(sq, f32sqrt(get(sq)))], []);
  const slope = (w: number): Code =>
    ifElse(
      i32eqConst(mode, 1),
      [set(sq, select(f32div(get(w), f32sqrt(get(sq))), f32(0), f32gt(get(sq), f32(0))))],
      [set(sq, f32mul(get(w), f32(2)))],
    );
  /** grad rows: g_xi += f·(x_i − z_j), g_zj −= f·(x_i − z_j), with f in sq */
  const update = (gxi: Code): Code =>
    cat(
      set(vf, vsplat(get(sq))),
      forStep(
        k,
        i32(0),
        get(lN),
        4,
        set(dd, vmul(get(vf), vsub(vload(at(get(xi), get(k))), vload(at(get(zj), get(k)))))),
        vstore(at(gxi, get(k)), vadd(vload(at(gxi, get(k))), get(dd))),
        vstore(at(get(gzj), get(k)), vsub(vload(at(get(gzj), get(k))), get(dd))),
      ),
    );
  const xRow = (pp: Code, ii: Code) => i32add(get(x), i32mul(i32add(i32mul(pp, get(nN)), ii), rowBytes()));
  const yRow = (pp: Code, jj: Code) => i32add(get(y), i32mul(i32add(i32mul(pp, get(mN)), jj), rowBytes()));
  if (!backward) {
    fn.emit(
      forStep(
        p,
        i32(0),
        get(bN),
        1,
        // cross term
        set(total, f32(0)),
        forStep(
          i,
          i32(0),
          get(nN),
          1,
          set(xi, xRow(get(p), get(i))),
          forStep(
            j,
            i32(0),
            get(mN),
            1,
            set(zj, yRow(get(p), get(j))),
            distance(),
            value(),
            set(total, f32add(get(total), get(sq))),
          ),
        ),
        f32store(at(get(outP), get(p)), f32div(get(total), f32FromI32(i32mul(get(nN), get(mN))))),
        // self term over unordered pairs, each counted twice
        set(total, f32(0)),
        forStep(
          i,
          i32(0),
          get(nN),
          1,
          set(xi, xRow(get(p), get(i))),
          forStep(
            j,
            i32add(get(i), i32(1)),
            get(nN),
            1,
            set(zj, xRow(get(p), get(j))),
            distance(),
            value(),
            set(total, f32add(get(total), get(sq))),
          ),
        ),
        set(cnt, i32mul(get(nN), i32add(get(nN), i32(-1)))),
        f32store(
          at(get(outP), i32add(get(p), get(bN))),
          select(f32div(f32mul(get(total), f32(2)), f32FromI32(get(cnt))), f32(0), i32gtS(get(cnt), i32(0))),
        ),
      ),
    );
    return fn;
  }
  const dxRow = (pp: Code, ii: Code) => i32add(get(dxP), i32mul(i32add(i32mul(pp, get(nN)), ii), rowBytes()));
  const dyRow = (pp: Code, jj: Code) => i32add(get(dyP), i32mul(i32add(i32mul(pp, get(mN)), jj), rowBytes()));
  const total4 = fn.local(I32);
  fn.emit(
    set(total4, i32mul(i32mul(get(bN), get(nN)), get(lN))),
    zeroFill(dxP, total4, k),
    set(total4, i32mul(i32mul(get(bN), get(mN)), get(lN))),
    zeroFill(dyP, total4, k),
    forStep(
      p,
      i32(0),
      get(bN),
      1,
      set(wc, f32div(f32load(at(get(outP), get(p))), f32FromI32(i32mul(get(nN), get(mN))))),
      set(cnt, i32mul(get(nN), i32add(get(nN), i32(-1)))),
      set(
        ws,
        select(
          f32div(f32mul(f32load(at(get(outP), i32add(get(p), get(bN)))), f32(2)), f32FromI32(get(cnt))),
          f32(0),
          i32gtS(get(cnt), i32(0)),
        ),
      ),
      forStep(
        i,
        i32(0),
        get(nN),
        1,
        set(xi, xRow(get(p), get(i))),
        forStep(
          j,
          i32(0),
          get(mN),
          1,
          set(zj, yRow(get(p), get(j))),
          set(gzj, dyRow(get(p), get(j))),
          distance(),
          slope(wc),
          update(dxRow(get(p), get(i))),
        ),
        forStep(
          j,
          i32add(get(i), i32(1)),
          get(nN),
          1,
          set(zj, xRow(get(p), get(j))),
          set(gzj, dxRow(get(p), get(j))),
          distance(),
          slope(ws),
          update(dxRow(get(p), get(i))),
        ),
      ),
    ),
  );
  return fn;
}

const i32eqConst = (l: number, c: number): Code => [...get(l), ...i32(c), 0x46];

/** The kernels, by export name. */
export const SIMD_KERNELS: Array<() => Fn> = [
  siluKernel,
  siluGradKernel,
  scaleKernel,
  () => swiGluKernel(false),
  () => swiGluKernel(true),
  rmsNormKernel,
  rmsNormGradKernel,
  layerNormKernel,
  layerNormGradKernel,
  softmaxRowsKernel,
  adamWKernel,
  sumSquaresKernel,
  () => pairwiseKernel(false),
  () => pairwiseKernel(true),
  causalSoftmaxKernel,
  causalSoftmaxGradKernel,
  columnSumKernel,
  axpyRowsKernel,
  () => ropeKernel(false),
  () => ropeKernel(true),
];

/** The exported functions of the kernel module. */
export interface SimdExports {
  silu(x: number, y: number, n: number): void;
  siluGrad(dy: number, x: number, dx: number, n: number): void;
  scale(x: number, y: number, n: number, c: number): void;
  swiGlu(x: number, y: number, rows: number, h: number): void;
  swiGluGrad(dy: number, x: number, dx: number, rows: number, h: number): void;
  rmsNorm(x: number, w: number, y: number, rstd: number, rows: number, d: number, eps: number): void;
  rmsNormGrad(dy: number, x: number, w: number, rstd: number, dx: number, dw: number, rows: number, d: number): void;
  layerNorm(
    x: number,
    w: number,
    b: number,
    y: number,
    mean: number,
    rstd: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  layerNormGrad(
    dy: number,
    x: number,
    w: number,
    mean: number,
    rstd: number,
    dx: number,
    dw: number,
    db: number,
    rows: number,
    d: number,
  ): void;
  softmaxRows(x: number, probs: number, stats: number, rows: number, v: number): void;
  adamW(
    p: number,
    g: number,
    m: number,
    v: number,
    pOut: number,
    mOut: number,
    vOut: number,
    n: number,
    scale: number,
    b1c: number,
    b2: number,
    b2c: number,
    decay: number,
    stepSize: number,
    bc2: number,
    eps: number,
  ): void;
  sumSquares(x: number, n: number): number;
  columnSum(x: number, out: number, rows: number, n: number): void;
  causalSoftmax(p: number, rows: number, ld: number, firstQuery: number, width: number): void;
  axpyRows(a: number, b: number, ldb: number, out: number, k: number, n: number): void;
  causalSoftmaxGrad(p: number, dp: number, rows: number, ld: number, firstQuery: number, width: number): void;
  ropeGather(
    src: number,
    ldSrc: number,
    dst: number,
    ldDst: number,
    rows: number,
    d: number,
    cos: number,
    sin: number,
    scale: number,
    rope: number,
  ): void;
  ropeScatter(
    src: number,
    ldSrc: number,
    dst: number,
    ldDst: number,
    rows: number,
    d: number,
    cos: number,
    sin: number,
    scale: number,
    rope: number,
  ): void;
  /**
   * C[m, n] = A[m, k]·B[n, k]ᵀ for a few rows of A (no packing; B streamed once per 4 rows of A),
   * element (i, j) at c + 4·(i·ldc + j·ldcCol).
   */
  gemvT(
    m: number,
    n: number,
    k: number,
    a: number,
    lda: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    ldcCol: number,
  ): void;
  /**
   * C[m, n] = op(A)·op(B) (or += when `accumulate`); A [m, k] or [k, m] when aTrans, B [k, n] or
   * [n, k] when bTrans, row-major with leading dimensions in elements; `work` holds
   * {@link GEMM_WORK_BYTES} bytes.
   */
  gemm(
    m: number,
    n: number,
    k: number,
    a: number,
    lda: number,
    aTrans: number,
    b: number,
    ldb: number,
    bTrans: number,
    c: number,
    ldc: number,
    accumulate: number,
    work: number,
  ): void;
  pairwise(x: number, y: number, out: number, b: number, n: number, m: number, l: number, mode: number): void;
  pairwiseGrad(
    x: number,
    y: number,
    dOut: number,
    dx: number,
    dy: number,
    b: number,
    n: number,
    m: number,
    l: number,
    mode: number,
  ): void;
}

const instances = new WeakMap<WebAssembly.Memory, Map<GemmVariant, SimdExports>>();
const compiled = new Map<string, WebAssembly.Module>();

/**
 * The kernel module instantiated over a wasm memory, with the gemm variant chosen now (see
 * features.ts): compiled once per variant (and memory kind), instantiated once per memory and variant.
 */
export function simdKernels(memory: WebAssembly.Memory, variant: GemmVariant = gemmVariant()): SimdExports {
  let byVariant = instances.get(memory);
  if (byVariant === undefined) {
    byVariant = new Map();
    instances.set(memory, byVariant);
  }
  let inst = byVariant.get(variant);
  if (inst) return inst;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const key = `${variant}/${shared ? 'shared' : 'plain'}`;
  let module = compiled.get(key);
  if (module === undefined) {
    const gemm = variant === 'fma' ? GEMM_FMA : GEMM_PLAIN;
    const bytes = encodeModule([...SIMD_KERNELS.map((k) => k()), ...gemmFunctions(SIMD_KERNELS.length, gemm)], {
      minPages: 1,
      shared,
      ...(shared ? { maxPages: 65536 } : {}),
    });
    module = new WebAssembly.Module(bytes);
    compiled.set(key, module);
  }
  inst = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdExports;
  byVariant.set(variant, inst);
  return inst;
}

export { GEMM_WORK_BYTES };
