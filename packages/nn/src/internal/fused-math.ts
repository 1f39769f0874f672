// Plain loops for the fused kernels' cases the SIMD module does not cover: the energy-score
// distance means for exponents other than 1 and 2 (float32 storage, float64 accumulation).
// Internal.

/**
 * Pairwise distance means per position b: cross[b] = mean_{n,m} ‖x_bn − y_bm‖^α and
 * self[b] = mean_{n≠k} ‖x_bn − x_bk‖^α, with exact differences. x [B, N, L], y [B, M, L].
 */
export function pairwiseDistanceMeansForward(
  x: Float32Array,
  y: Float32Array,
  b: number,
  n: number,
  m: number,
  l: number,
  alpha: number,
  cross: Float32Array,
  self: Float32Array,
): void {
  const half = alpha / 2;
  const pw = (sq: number) => (sq > 0 ? (alpha === 1 ? Math.sqrt(sq) : alpha === 2 ? sq : sq ** half) : 0);
  for (let p = 0; p < b; p++) {
    const xo = p * n * l;
    const yo = p * m * l;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const xi = xo + i * l;
      for (let j = 0; j < m; j++) {
        const yj = yo + j * l;
        let sq = 0;
        for (let k = 0; k < l; k++) {
          const dd = x[xi + k]! - y[yj + k]!;
          sq += dd * dd;
        }
        c += pw(sq);
      }
    }
    cross[p] = c / (n * m);
    let s = 0;
    for (let i = 0; i < n; i++) {
      const xi = xo + i * l;
      for (let j = i + 1; j < n; j++) {
        const xj = xo + j * l;
        let sq = 0;
        for (let k = 0; k < l; k++) {
          const dd = x[xi + k]! - x[xj + k]!;
          sq += dd * dd;
        }
        s += pw(sq);
      }
    }
    self[p] = n > 1 ? (2 * s) / (n * (n - 1)) : 0;
  }
}

/**
 * Backward of {@link pairwiseDistanceMeansForward}: d‖u‖^α/du = α‖u‖^(α−2)·u (0 at u = 0), weighted
 * by dCross[b]/(N·M) and dSelf[b]/(N·(N−1)) (each unordered pair counted twice).
 */
export function pairwiseDistanceMeansBackward(
  x: Float32Array,
  y: Float32Array,
  dCross: Float32Array,
  dSelf: Float32Array,
  b: number,
  n: number,
  m: number,
  l: number,
  alpha: number,
  dx: Float32Array,
  dy: Float32Array,
): void {
  const e = alpha / 2 - 1;
  // d‖u‖^α / d(sq) · 2 = α · sq^(α/2 − 1)
  const slope = (sq: number) => (sq > 0 ? (alpha === 2 ? 2 : alpha === 1 ? 1 / Math.sqrt(sq) : alpha * sq ** e) : 0);
  dx.fill(0);
  dy.fill(0);
  for (let p = 0; p < b; p++) {
    const xo = p * n * l;
    const yo = p * m * l;
    const wc = dCross[p]! / (n * m);
    const ws = n > 1 ? (2 * dSelf[p]!) / (n * (n - 1)) : 0;
    for (let i = 0; i < n; i++) {
      const xi = xo + i * l;
      for (let j = 0; j < m; j++) {
        const yj = yo + j * l;
        let sq = 0;
        for (let k = 0; k < l; k++) {
          const dd = x[xi + k]! - y[yj + k]!;
          sq += dd * dd;
        }
        const f = wc * slope(sq);
        if (f === 0) continue;
        for (let k = 0; k < l; k++) {
          const g = f * (x[xi + k]! - y[yj + k]!);
          dx[xi + k] = dx[xi + k]! + g;
          dy[yj + k] = dy[yj + k]! - g;
        }
      }
      for (let j = i + 1; j < n; j++) {
        const xj = xo + j * l;
        let sq = 0;
        for (let k = 0; k < l; k++) {
          const dd = x[xi + k]! - x[xj + k]!;
          sq += dd * dd;
        }
        const f = ws * slope(sq);
        if (f === 0) continue;
        for (let k = 0; k < l; k++) {
          const g = f * (x[xi + k]! - x[xj + k]!);
          dx[xi + k] = dx[xi + k]! + g;
          dx[xj + k] = dx[xj + k]! - g;
        }
      }
    }
  }
}
