// FLOPs accounting against spec §5.1: the inference FLOPs per token of CALM-M/L and
// Transformer-S/M/L, and the Transformers' training FLOPs at 500B tokens; parameter counts that
// reproduce Table 1.
import { describe, expect, it } from 'vitest';
import { RELEASED_AUTOENCODER_CONFIG } from '@calm/autoencoder';
import {
  CALM_M_CONFIG,
  arConfig,
  arInferenceFlops,
  arTrainingFlops,
  backboneParams,
  calmConfig,
  calmInferenceFlops,
  calmTrainingFlops,
  embedProjParams,
  headParams,
} from '../src/index.js';

const ae = RELEASED_AUTOENCODER_CONFIG;
const calmM = calmConfig({});
const calmL = calmConfig({ hiddenSize: 1536, intermediateSize: 4096, numAttentionHeads: 16, numKeyValueHeads: 16 });
const tS = arConfig({
  hiddenSize: 768,
  intermediateSize: 2048,
  numHiddenLayers: 12,
  numAttentionHeads: 16,
  numKeyValueHeads: 16,
});
const tM = arConfig({
  hiddenSize: 1024,
  intermediateSize: 2752,
  numHiddenLayers: 16,
  numAttentionHeads: 16,
  numKeyValueHeads: 16,
});
const tL = arConfig({
  hiddenSize: 1536,
  intermediateSize: 4096,
  numHiddenLayers: 16,
  numAttentionHeads: 16,
  numKeyValueHeads: 16,
});

describe('parameter counts (spec §2.5, Table 1)', () => {
  it('CALM-M LM-only = 371,732,608', () => {
    const n =
      backboneParams(CALM_M_CONFIG) +
      CALM_M_CONFIG.vocabSize * 1024 +
      embedProjParams(CALM_M_CONFIG) +
      headParams(CALM_M_CONFIG).total;
    expect(n).toBe(371_732_608);
  });
  it('CALM-L 735M, Transformer-S 281.96M', () => {
    const l = backboneParams(calmL) + calmL.vocabSize * 1536 + embedProjParams(calmL) + headParams(calmL).total;
    expect(Math.round(l / 1e6)).toBe(735);
    expect(((backboneParams(tS) + 2 * tS.vocabSize * 768) / 1e6).toFixed(2)).toBe('281.96');
  });
});

describe('inference FLOPs per token (Table 1, ×1e8)', () => {
  it('CALM-M 2.9 and CALM-L 4.6 (spec formula 2.88 / 4.53, within 1%)', () => {
    const m = calmInferenceFlops(calmM, ae).perToken / 1e8;
    const l = calmInferenceFlops(calmL, ae).perToken / 1e8;
    expect(m.toFixed(1)).toBe('2.9');
    expect(l.toFixed(1)).toBe('4.6');
    expect(Math.abs(m / 2.88 - 1)).toBeLessThan(0.01);
    expect(Math.abs(l / 4.53 - 1)).toBeLessThan(0.01);
  });
  it('Transformer-S/M/L = 4.42 / 8.02 / 15.01 (spec formula; Table 1 4.4 / 7.9 / 15.0)', () => {
    expect((arInferenceFlops(tS).perToken / 1e8).toFixed(2)).toBe('4.42');
    expect((arInferenceFlops(tM).perToken / 1e8).toFixed(2)).toBe('8.02');
    expect((arInferenceFlops(tL).perToken / 1e8).toFixed(2)).toBe('15.01');
  });
});

describe('training FLOPs (×1e20)', () => {
  it('Transformers at 500B tokens: 6.6 / 12.0 / 22.5', () => {
    const total = (c: typeof tS) => (arTrainingFlops(c).perToken * 500e9) / 1e20;
    expect(total(tS).toFixed(1)).toBe('6.6');
    expect(total(tM).toFixed(1)).toBe('12.0');
    expect(total(tL).toFixed(1)).toBe('22.5');
  });
  it('CALM-M / -L at 250k steps × 2M tokens: within 2% of Table 1 (3.7 / 7.7)', () => {
    const tokens = 250_000 * 2_097_152;
    const m = (calmTrainingFlops(calmM, ae).perToken * tokens) / 1e20;
    const l = (calmTrainingFlops(calmL, ae).perToken * tokens) / 1e20;
    expect(Math.abs(m / 3.7 - 1)).toBeLessThan(0.02);
    expect(Math.abs(l / 7.7 - 1)).toBeLessThan(0.02);
    // CALM-M trains with ~44% fewer FLOPs than Transformer-S (the headline).
    expect(1 - m / ((arTrainingFlops(tS).perToken * 500e9) / 1e20)).toBeGreaterThan(0.4);
  });
});

describe('FLOPs of the flow and diffusion heads', () => {
  it('count every network call of the sampler, and one call per replica in training', () => {
    const energy = calmConfig({});
    const flow = calmConfig({ head: 'flow' }); // midpoint, 10 steps: 20 calls
    const euler = calmConfig({ head: 'flow', flowSolver: 'euler', flowSteps: 4 });
    const diffusion = calmConfig({ head: 'diffusion' }); // 100 sampling steps
    const h = 1024;
    const net = headParams(flow);
    // SimpleMLPAdaLN at H = 1024, l = 128, 4 blocks: time MLP, cond, input, 4 × (LN + 2 Linear + adaLN), final.
    const want =
      256 * h +
      h +
      h * h +
      h +
      (h * h + h) +
      (128 * h + h) +
      4 * (2 * h + 2 * (h * h + h) + (3 * h * h + 3 * h)) +
      (128 * h + 128) +
      (2 * h * h + 2 * h);
    expect(net.total).toBe(want);
    expect(net.perHidden).toBe(h * h + h);
    const per = (c: typeof energy) => calmInferenceFlops(c, ae).parts.head!;
    expect(per(flow)).toBe((2 * (net.perHidden + 20 * net.perSample)) / 4);
    expect(per(euler)).toBe((2 * (net.perHidden + 4 * net.perSample)) / 4);
    const diff = headParams(diffusion); // out = 2l (learned variance)
    expect(diff.total).toBe(want + 128 * h + 128);
    expect(per(diffusion)).toBe((2 * (diff.perHidden + 100 * diff.perSample)) / 4);
    expect(per(diffusion)).toBeGreaterThan(50 * per(energy));
    expect(calmTrainingFlops(flow, ae).parts.head).toBe((3 * 2 * (net.perHidden + 8 * net.perSample)) / 4);
    // A custom head: its own flopsPerSample when given, else 0.
    const custom = calmConfig({ head: 'gaussian' });
    expect(calmInferenceFlops(custom, ae).parts.head).toBe(0);
    const head = { flopsPerSample: (n = 1) => 1000 / n } as never;
    expect(calmInferenceFlops(custom, ae, { head }).parts.head).toBe(1000 / 4);
    expect(calmTrainingFlops(custom, ae, { head }).parts.head).toBe((3 * 8 * (1000 / 8)) / 4);
  });
});
