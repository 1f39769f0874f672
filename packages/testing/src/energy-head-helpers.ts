// Test helpers for @calm/energy-head: a known 2-D Gaussian mixture to train generative heads on,
// and sample moments to compare a head's samples with the mixture's analytic mean and covariance.
import type { Rng } from '@calm/core';

/** One component of a 2-D Gaussian mixture with a diagonal covariance. */
export interface MixtureComponent2D {
  weight: number;
  mean: [number, number];
  std: [number, number];
}

/** The mixture used by the energy-head training tests: mean (0, 0), correlated overall covariance. */
export const TWO_MODE_MIXTURE: readonly MixtureComponent2D[] = [
  { weight: 0.5, mean: [-1, 0.5], std: [0.2, 0.3] },
  { weight: 0.5, mean: [1, -0.5], std: [0.3, 0.2] },
];

/** Draws `count` points (row-major [count, 2]) from a mixture. */
export function sampleMixture2D(rng: Rng, components: readonly MixtureComponent2D[], count: number): Float32Array {
  const weights = components.map((c) => c.weight);
  const out = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) {
    const c = components[rng.categorical(weights)]!;
    out[2 * i] = c.mean[0] + c.std[0] * rng.normal();
    out[2 * i + 1] = c.mean[1] + c.std[1] * rng.normal();
  }
  return out;
}

/** Analytic mean and covariance [[xx, xy], [xy, yy]] of a mixture. */
export function mixtureMoments2D(components: readonly MixtureComponent2D[]): {
  mean: [number, number];
  cov: [number, number, number];
} {
  const total = components.reduce((a, c) => a + c.weight, 0);
  let mx = 0;
  let my = 0;
  let exx = 0;
  let eyy = 0;
  let exy = 0;
  for (const c of components) {
    const w = c.weight / total;
    mx += w * c.mean[0];
    my += w * c.mean[1];
    exx += w * (c.mean[0] ** 2 + c.std[0] ** 2);
    eyy += w * (c.mean[1] ** 2 + c.std[1] ** 2);
    exy += w * c.mean[0] * c.mean[1];
  }
  return { mean: [mx, my], cov: [exx - mx * mx, exy - mx * my, eyy - my * my] };
}

/** Sample mean and covariance [xx, xy, yy] of row-major [count, 2] points. */
export function sampleMoments2D(points: ArrayLike<number>): { mean: [number, number]; cov: [number, number, number] } {
  const n = points.length / 2;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += points[2 * i]!;
    my += points[2 * i + 1]!;
  }
  mx /= n;
  my /= n;
  let xx = 0;
  let xy = 0;
  let yy = 0;
  for (let i = 0; i < n; i++) {
    const dx = points[2 * i]! - mx;
    const dy = points[2 * i + 1]! - my;
    xx += dx * dx;
    xy += dx * dy;
    yy += dy * dy;
  }
  return { mean: [mx, my], cov: [xx / (n - 1), xy / (n - 1), yy / (n - 1)] };
}
