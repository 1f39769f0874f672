// Which matrix-product variant the kernel module is built with: the fused multiply-add one where
// the engine validates relaxed SIMD (switching it on first where the platform can: Node 20's V8
// 11.3 has it behind a flag), else multiply then add. Internal.
import { platform } from '#platform';

/** The gemm variants: `fma` uses relaxed SIMD's `f32x4.relaxed_madd`, `plain` multiply then add. */
export type GemmVariant = 'fma' | 'plain';

// (module (func (param v128 v128 v128) (result v128) (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2))))
// f32x4.relaxed_madd is 0xfd 0x105 (LEB128 0x85 0x02) in the final proposal, as V8 11.3 decodes it.
const RELAXED_MADD_MODULE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // header
  0x01,
  0x08,
  0x01,
  0x60,
  0x03,
  0x7b,
  0x7b,
  0x7b,
  0x01,
  0x7b, // type: (v128 v128 v128) → v128
  0x03,
  0x02,
  0x01,
  0x00, // one function of type 0
  0x0a,
  0x0d,
  0x01,
  0x0b,
  0x00,
  0x20,
  0x00,
  0x20,
  0x01,
  0x20,
  0x02,
  0xfd,
  0x85,
  0x02,
  0x0b, // code
]);

const validates = (): boolean => {
  try {
    return typeof WebAssembly !== 'undefined' && WebAssembly.validate(RELAXED_MADD_MODULE);
  } catch {
    return false;
  }
};

let relaxed: boolean | undefined;
let forced: GemmVariant | undefined;

/**
 * Whether modules compiled from now on may use relaxed SIMD (checked once): validation of a
 * module with `f32x4.relaxed_madd`, after asking the platform to switch it on when it first fails.
 */
export function relaxedSimdSupported(): boolean {
  if (relaxed === undefined) {
    relaxed = validates();
    if (!relaxed) {
      platform.enableWasmRelaxedSimd();
      relaxed = validates();
    }
  }
  return relaxed;
}

/** The gemm variant kernel modules are built with now: the forced one, else `fma` where supported. */
export function gemmVariant(): GemmVariant {
  return forced ?? (relaxedSimdSupported() ? 'fma' : 'plain');
}

/**
 * Forces the gemm variant of the kernel modules used from now on (tests and benchmarks compare
 * the two); `undefined` restores the automatic choice. Forcing `fma` where relaxed SIMD is not
 * supported throws.
 */
export function forceGemmVariant(variant: GemmVariant | undefined): void {
  if (variant === 'fma' && !relaxedSimdSupported())
    throw new Error('forceGemmVariant: this engine does not support relaxed SIMD');
  forced = variant;
}
