// Conversions between float32 and the 16-bit float formats checkpoints use (IEEE half, bfloat16).
// Narrowing rounds to nearest, ties to even, like PyTorch's `.half()` / `.bfloat16()`.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Widens IEEE-754 half-precision bit patterns to float32.
 * @param bits - F16 values as raw 16-bit patterns.
 * @param out - Optional destination of the same length.
 * @returns Float32 values (exact: every half is representable in float32).
 * @example
 * {@includeCode ../test/examples.test.ts#half-floats}
 * @category Dtypes
 */
export function float16BitsToFloat32(
  bits: Uint16Array,
  out: Float32Array = new Float32Array(bits.length),
): Float32Array {
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    let w: number;
    if (exp === 0) {
      if (mant === 0) w = sign;
      else {
        // subnormal: normalise
        let e = -1;
        do {
          e++;
          mant <<= 1;
        } while ((mant & 0x400) === 0);
        w = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
      }
    } else if (exp === 0x1f) w = sign | 0x7f800000 | (mant << 13);
    else w = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    u32[0] = w >>> 0;
    out[i] = f32[0]!;
  }
  return out;
}

/**
 * Narrows float32 values to IEEE-754 half precision (round to nearest even; overflow to ±Inf).
 * @param values - Float32 values.
 * @returns F16 raw bit patterns.
 * @example
 * {@includeCode ../test/examples.test.ts#half-floats}
 * @category Dtypes
 */
export function float32ToFloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i]!;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rem > halfway || (rem === halfway && half & 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
    // carry into the exponent is correct (may become Inf)
    out[i] = sign | half;
    void e;
  }
  return out;
}

/**
 * Widens bfloat16 bit patterns to float32 (exact).
 * @param bits - BF16 values as raw 16-bit patterns.
 * @param out - Optional destination of the same length.
 * @returns Float32 values.
 * @example
 * {@includeCode ../test/examples.test.ts#half-floats}
 * @category Dtypes
 */
export function bfloat16BitsToFloat32(
  bits: Uint16Array,
  out: Float32Array = new Float32Array(bits.length),
): Float32Array {
  const o32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) o32[i] = bits[i]! << 16;
  return out;
}

/**
 * Narrows float32 values to bfloat16 (round to nearest even; NaN stays NaN).
 * @param values - Float32 values.
 * @returns BF16 raw bit patterns.
 * @example
 * {@includeCode ../test/examples.test.ts#half-floats}
 * @category Dtypes
 */
export function float32ToBfloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const in32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const x = in32[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    const lsb = (x >>> 16) & 1;
    out[i] = ((x + 0x7fff + lsb) >>> 16) & 0xffff;
  }
  return out;
}
