// A minimal WebAssembly encoder for the fused kernels: expressions are byte arrays that leave
// values on the stack, composed by small helpers (wasm opcodes, including the fixed-width SIMD
// proposal that every engine tfjs's SIMD build runs on supports). The module imports the memory of
// tfjs's wasm backend, so kernels read and write tensors in place. Internal.

/** WebAssembly code bytes. */
export type Code = number[];
/** A value type. */
export type ValType = 0x7f | 0x7d | 0x7c | 0x7b;
export const I32: ValType = 0x7f;
export const F32: ValType = 0x7d;
export const F64: ValType = 0x7c;
export const V128: ValType = 0x7b;

function uleb(v: number): number[] {
  const out: number[] = [];
  let x = v >>> 0;
  do {
    let byte = x & 0x7f;
    x >>>= 7;
    if (x !== 0) byte |= 0x80;
    out.push(byte);
  } while (x !== 0);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  let x = v | 0;
  for (;;) {
    const byte = x & 0x7f;
    x >>= 7;
    if ((x === 0 && (byte & 0x40) === 0) || (x === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const f32Bytes = (v: number): number[] => Array.from(new Uint8Array(new Float32Array([v]).buffer));
const f64Bytes = (v: number): number[] => Array.from(new Uint8Array(new Float64Array([v]).buffer));
const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const cat = (...parts: Code[]): Code => parts.flat();

// ---------------------------------------------------------------------------------------------
// Locals, constants, control

export const get = (l: number): Code => [0x20, ...uleb(l)];
export const set = (l: number, e: Code): Code => [...e, 0x21, ...uleb(l)];
export const tee = (l: number, e: Code): Code => [...e, 0x22, ...uleb(l)];
export const i32 = (v: number): Code => [0x41, ...sleb(v)];
export const f32 = (v: number): Code => [0x43, ...f32Bytes(v)];
export const f64 = (v: number): Code => [0x44, ...f64Bytes(v)];
export const drop = (e: Code): Code => [...e, 0x1a];
/** Calls function `index` of the module (its position in the list given to encodeModule). */
export const call = (index: number, ...args: Code[]): Code => [...args.flat(), 0x10, ...uleb(index)];
export const ret = (): Code => [0x0f];
/** `cond ? a : b` (both evaluated). */
export const select = (a: Code, b: Code, cond: Code): Code => [...a, ...b, ...cond, 0x1b];
export const block = (...body: Code[]): Code => [0x02, 0x40, ...body.flat(), 0x0b];
export const loop = (...body: Code[]): Code => [0x03, 0x40, ...body.flat(), 0x0b];
export const br = (depth: number): Code => [0x0c, ...uleb(depth)];
export const brIf = (depth: number, cond: Code): Code => [...cond, 0x0d, ...uleb(depth)];
export const ifThen = (cond: Code, ...body: Code[]): Code => [...cond, 0x04, 0x40, ...body.flat(), 0x0b];
export const ifElse = (cond: Code, then: Code[], otherwise: Code[]): Code => [
  ...cond,
  0x04,
  0x40,
  ...then.flat(),
  0x05,
  ...otherwise.flat(),
  0x0b,
];

/**
 * `for (i = start; i + step <= end; i += step) body` — the body sees `i`; nested loops are fine.
 * (With step 1 this is the usual `i < end`.)
 */
export const forStep = (i: number, start: Code, end: Code, step: number, ...body: Code[]): Code =>
  cat(
    set(i, start),
    block(loop(brIf(1, i32gtS(i32add(get(i), i32(step)), end)), ...body, set(i, i32add(get(i), i32(step))), br(0))),
  );

// ---------------------------------------------------------------------------------------------
// Scalars

const bin =
  (op: number) =>
  (a: Code, b: Code): Code => [...a, ...b, op];
const un =
  (op: number) =>
  (a: Code): Code => [...a, op];
export const i32add = bin(0x6a);
export const i32sub = bin(0x6b);
export const i32mul = bin(0x6c);
export const i32shl = bin(0x74);
export const i32ltS = bin(0x48);
export const i32gtS = bin(0x4a);
export const i32geS = bin(0x4e);
export const i32eq = bin(0x46);
export const i32ne = bin(0x47);
export const i32and = bin(0x71);
export const i32or = bin(0x72);
export const i32leS = bin(0x4c);
export const i32eqz = un(0x45);
/** min(a, b) of two i32 (both evaluated). */
export const i32min = (a: Code, b: Code, ta: number, tb: number): Code => [
  ...set(ta, a),
  ...set(tb, b),
  ...select(get(ta), get(tb), [...get(ta), ...get(tb), 0x48]),
];
export const f32add = bin(0x92);
export const f32sub = bin(0x93);
export const f32mul = bin(0x94);
export const f32div = bin(0x95);
export const f32max = bin(0x97);
export const f32min = bin(0x96);
export const f32gt = bin(0x5e);
export const f32sqrt = un(0x91);
export const f64add = bin(0xa0);
export const f64sub = bin(0xa1);
export const f64mul = bin(0xa2);
export const f64div = bin(0xa3);
export const f64sqrt = un(0x9f);
export const f64FromF32 = un(0xbb);
export const f32FromF64 = un(0xb6);
export const f64FromI32 = un(0xb7);
export const f32FromI32 = un(0xb2);

/** Byte address `base + 4·index` of a float32 element. */
export const at = (base: Code, index: Code): Code => i32add(base, i32shl(index, i32(2)));
export const f32load = (addr: Code, offset = 0): Code => [...addr, 0x2a, 2, ...uleb(offset)];
export const f32store = (addr: Code, value: Code, offset = 0): Code => [...addr, ...value, 0x38, 2, ...uleb(offset)];
export const i32load = (addr: Code, offset = 0): Code => [...addr, 0x28, 2, ...uleb(offset)];
/** Loads 8 bytes as an i64 (a bit-exact copy of two float32s; 4-byte alignment hint). */
export const i64load = (addr: Code, offset = 0): Code => [...addr, 0x29, 2, ...uleb(offset)];
export const i64store = (addr: Code, value: Code, offset = 0): Code => [...addr, ...value, 0x37, 2, ...uleb(offset)];

// ---------------------------------------------------------------------------------------------
// SIMD (f32x4)

const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const vbin =
  (op: number) =>
  (a: Code, b: Code): Code => [...a, ...b, ...simd(op)];
const vun =
  (op: number) =>
  (a: Code): Code => [...a, ...simd(op)];
export const vload = (addr: Code, offset = 0): Code => [...addr, ...simd(0x00), 0, ...uleb(offset)];
export const vstore = (addr: Code, value: Code, offset = 0): Code => [
  ...addr,
  ...value,
  ...simd(0x0b),
  0,
  ...uleb(offset),
];
/** Loads one float32 into every lane. */
export const vloadSplat = (addr: Code, offset = 0): Code => [...addr, ...simd(0x09), 2, ...uleb(offset)];
export const vsplat = vun(0x13);
/** i8x16.shuffle picking four 32-bit lanes: 0–3 from a, 4–7 from b. */
export const vshuffle32 = (a: Code, b: Code, lanes: readonly [number, number, number, number]): Code => [
  ...a,
  ...b,
  ...simd(0x0d),
  ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]),
];
export const isplat = vun(0x11);
export const vconst = (v: number): Code => vsplat(f32(v));
export const vlane = (a: Code, lane: number): Code => [...a, ...simd(0x1f), lane];
export const vadd = vbin(0xe4);
export const vsub = vbin(0xe5);
export const vmul = vbin(0xe6);
export const vdiv = vbin(0xe7);
export const vmin = vbin(0xe8);
export const vmax = vbin(0xe9);
/** Pseudo-minimum `b < a ? b : a` (one minps on x64; f32x4.min adds NaN/±0 fix-ups). */
export const vpmin = vbin(0xea);
/** Pseudo-maximum `a < b ? b : a` (one maxps on x64). */
export const vpmax = vbin(0xeb);
/**
 * `a·b + c` lane-wise, relaxed SIMD's `f32x4.relaxed_madd` (0xfd 0x105): one fused multiply-add
 * (a single rounding) where the CPU has one, else a multiply and an add; the same inputs give the
 * same result on the same machine. Only for modules compiled where {@link relaxedSimdOpcodes}
 * validates.
 */
export const vmadd = (a: Code, b: Code, c: Code): Code => [...a, ...b, ...c, ...simd(0x105)];
export const vsqrt = vun(0xe3);
export const vneg = vun(0xe1);
export const vnearest = vun(0x6a);
export const vgt = vbin(0x44);
export const vand = vbin(0x4e);
/** Lane-wise `mask ? a : b` (mask lanes all ones or all zeros). */
export const vbitselect = (a: Code, b: Code, mask: Code): Code => [...a, ...b, ...mask, ...simd(0x52)];
export const itruncSat = vun(0xf8);
export const ishl = (a: Code, bits: Code): Code => [...a, ...bits, ...simd(0xab)];
export const iadd = vbin(0xae);
/** Sum of the four lanes (float32). */
export const vhsum = (a: Code, tmp: number): Code =>
  cat(
    set(tmp, a),
    f32add(f32add(vlane(get(tmp), 0), vlane(get(tmp), 1)), f32add(vlane(get(tmp), 2), vlane(get(tmp), 3))),
  );

/**
 * e^x lane-wise (Cephes' expf: range reduction by ln 2, degree-6 polynomial; about 1 ulp). Inputs
 * are clamped to [−87.3, 88.3], so the result is finite and positive (e^−87.3 ≈ 1.2e−38 for
 * smaller x). `t` is a scratch v128 local.
 */
export const vexp = (x: Code, t: number, n: number): Code =>
  cat(
    set(t, vpmax(vpmin(x, vconst(88.3)), vconst(-87.3))),
    set(n, vnearest(vmul(get(t), vconst(Math.LOG2E)))),
    // r = x − n·ln2 (split in two for accuracy)
    set(t, vsub(vsub(get(t), vmul(get(n), vconst(0.693359375))), vmul(get(n), vconst(-2.1219444e-4)))),
    // 2^n from its exponent bits: n + 2^23 + 127 holds n + 127 in its low mantissa bits, and the
    // left shift by 23 moves them into the exponent field (the other bits shift out).
    vmul(
      vadd(
        vadd(
          vmul(
            vmul(get(t), get(t)),
            vadd(
              vmul(
                vadd(
                  vmul(
                    vadd(
                      vmul(
                        vadd(
                          vmul(vadd(vmul(vconst(1.98756915e-4), get(t)), vconst(1.3981999507e-3)), get(t)),
                          vconst(8.3334519073e-3),
                        ),
                        get(t),
                      ),
                      vconst(4.1665795894e-2),
                    ),
                    get(t),
                  ),
                  vconst(1.6666665459e-1),
                ),
                get(t),
              ),
              vconst(5.0000001201e-1),
            ),
          ),
          get(t),
        ),
        vconst(1),
      ),
      ishl(vadd(get(n), vconst(8388608 + 127)), i32(23)),
    ),
  );

// ---------------------------------------------------------------------------------------------
// Functions and the module

/** A function under construction: parameters are locals 0..n−1; `local()` adds more. */
export class Fn {
  readonly locals: ValType[] = [];
  body: Code = [];
  constructor(
    readonly name: string,
    readonly params: ValType[],
    readonly results: ValType[] = [],
  ) {}
  /** Adds a local of the given type and returns its index. */
  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }
  /** Appends statements to the body. */
  emit(...code: Code[]): this {
    for (const c of code) this.body.push(...c);
    return this;
  }
}

const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];

/**
 * Encodes a module that imports `env.memory` (shared when `shared`, as tfjs's threaded build has
 * it) and exports the functions by name.
 */
export function encodeModule(
  fns: Fn[],
  memory: { minPages: number; maxPages?: number; shared: boolean },
): Uint8Array<ArrayBuffer> {
  const types = fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
  const limits =
    memory.shared || memory.maxPages !== undefined
      ? [memory.shared ? 0x03 : 0x01, ...uleb(memory.minPages), ...uleb(memory.maxPages ?? 65536)]
      : [0x00, ...uleb(memory.minPages)];
  const importSec = vec([[...str('env'), ...str('memory'), 0x02, ...limits]]);
  const funcSec = vec(fns.map((_, i) => uleb(i)));
  const exportSec = vec(fns.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]));
  const codes = fns.map((f) => {
    const groups: number[][] = [];
    for (const t of f.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0] = last[0]! + 1;
      else groups.push([1, t]);
    }
    const body = [...vec(groups.map(([count, t]) => [...uleb(count!), t!])), ...f.body, 0x0b];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(2, importSec),
    ...section(3, funcSec),
    ...section(7, exportSec),
    ...section(10, vec(codes)),
  ]);
}
