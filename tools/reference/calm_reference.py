"""PyTorch reference of the official CALM modules (shaochenze/calm at commit c556310, on HF
transformers 4.43's Llama), used to produce parity fixtures for the TypeScript packages.

First written from docs/calm-spec.md, then audited line by line against the official code (see the
"Audit" section of README.md). The behaviour is ported, not the code. Every module keeps the
official parameter names (state_dict keys, spec §7.3/§7.4) and every random draw is an explicit
tensor argument, so a fixture can replay a training step exactly. The code is dtype-generic;
make_fixtures.py runs it in float64 and rounds the results to float32.

Deliberate differences from the official code (all documented in README.md):
- RMSNorm / attention softmax upcast only *half* dtypes to float32 (HF always casts to float32,
  which would silently downcast a float64 reference run); for float32/bf16/fp16 inputs the math is
  the same as HF's.
- The AE encoder's train-mode cast of the token embeddings to bfloat16 (a mixed-precision detail of
  the official Encoder.forward) is not reproduced.
- Nothing here samples on its own: token masks, epsilon, dropout masks and head noise are inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HALF_DTYPES = (torch.float16, torch.bfloat16)

KVCache = List[Tuple[torch.Tensor, torch.Tensor]]


# --------------------------------------------------------------------------------------------
# Configs (field names as in the official config.json files, spec §7.2)
# --------------------------------------------------------------------------------------------


@dataclass
class AEConfig:
    """AutoencoderConfig (models/configuration_autoencoder.py); defaults are the official ones
    (train_autoencoder.sh overrides latent_size 128, 2+2 layers, patch 4; vocab = len(tokenizer))."""

    vocab_size: int = 32000
    hidden_size: int = 512
    intermediate_size: int = 1280
    latent_size: int = 128
    patch_size: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    ae_dropout: float = 0.15
    kl_clamp: float = 0.5
    kl_weight: float = 1e-3
    rms_norm_eps: float = 1e-6


@dataclass
class LlamaConfig:
    """The fields of HF LlamaConfig (4.43) that the computation reads; defaults as HF's."""

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int = 32
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    pad_token_id: Optional[int] = None


@dataclass
class CALMConfig(LlamaConfig):
    """CALMConfig (models/configuration_calm.py); defaults are the official ones (the released
    runs override hidden 1024, intermediate 2752, 16 layers, 16 heads; vocab/pad from the tokenizer)."""

    vocab_size: int = 32000
    hidden_size: int = 768
    intermediate_size: int = 2048
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_key_value_heads: int = 12
    patch_size: int = 4
    latent_size: int = 128
    noise_size: int = 64
    num_mlp_layers: int = 4
    num_samples: int = 8
    beta: float = 1.0
    # Not a config field in the official code (EnergyTransformer.energy_score hard-codes n_y = 100);
    # kept here so tiny fixtures can use a small M.
    num_target_samples: int = 100


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """LlamaRMSNorm: w * x / sqrt(mean(x^2) + eps), statistics in (at least) float32."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_dtype = x.dtype
        h = x.float() if in_dtype in HALF_DTYPES else x
        variance = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(variance + self.eps)
        return self.weight * h.to(in_dtype)


class SwiGLUMLP(nn.Module):
    """LlamaMLP without biases: down(silu(gate(x)) * up(x))."""

    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


# --------------------------------------------------------------------------------------------
# Autoencoder (spec §1, names §7.3)
# --------------------------------------------------------------------------------------------


class AELayer(nn.Module):
    """Pre-norm residual MLP applied per position: x + mlp(layernorm(x))."""

    def __init__(self, cfg: AEConfig) -> None:
        super().__init__()
        self.layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = SwiGLUMLP(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.layernorm(x))


class AEEncoder(nn.Module):
    def __init__(self, cfg: AEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, k = cfg.hidden_size, cfg.patch_size
        self.embed_tokens = nn.Embedding(cfg.vocab_size, d)
        self.encoder_layers = nn.ModuleList([AELayer(cfg) for _ in range(cfg.num_encoder_layers)])
        self.hidden_to_latent = nn.Linear(d, 2 * cfg.latent_size)
        self.squeeze_layer = nn.Linear(k * d, d)
        self.norm = RMSNorm(d, cfg.rms_norm_eps)

    def forward(self, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """ids [B, T] (T a multiple of K) -> (mean, log_std), each [B, T/K, latent]."""
        b, t = ids.shape
        k, d = self.cfg.patch_size, self.cfg.hidden_size
        if t % k != 0:
            raise ValueError(f"sequence length {t} is not a multiple of patch_size {k}")
        n_chunks = t // k
        x = self.embed_tokens(ids.reshape(b * n_chunks, k))  # [B*L, K, d]
        # Two stages of num_encoder_layers // 2 layers each, as in the official Encoder.forward: with
        # an odd count the last layer exists (and is in the state dict) but is never applied.
        per_stage = len(self.encoder_layers) // 2
        for layer in self.encoder_layers[:per_stage]:
            x = layer(x)
        x = x.reshape(b * n_chunks, 1, k * d)  # token 0's d dims first, then token 1, ...
        x = self.squeeze_layer(x)
        for layer in self.encoder_layers[per_stage : 2 * per_stage]:
            x = layer(x)
        x = self.norm(x)
        x = self.hidden_to_latent(x).reshape(b, n_chunks, 2 * self.cfg.latent_size)
        mean, log_std = x.chunk(2, dim=-1)
        return mean, log_std


class AEDecoder(nn.Module):
    def __init__(self, cfg: AEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, k = cfg.hidden_size, cfg.patch_size
        # lm_head_weight is registered by Autoencoder (it is the encoder's embedding Parameter).
        self.latent_to_hidden = nn.Linear(cfg.latent_size, d)
        self.decoder_layers = nn.ModuleList([AELayer(cfg) for _ in range(cfg.num_decoder_layers)])
        self.expand_layer = nn.Linear(d, k * d)
        self.norm = RMSNorm(d, cfg.rms_norm_eps)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, L, latent] -> logits [B, L*K, V] (tied output embedding, no bias)."""
        b, n_chunks, _ = z.shape
        k, d = self.cfg.patch_size, self.cfg.hidden_size
        x = self.latent_to_hidden(z)
        per_stage = len(self.decoder_layers) // 2  # an odd last layer is never applied (as officially)
        for layer in self.decoder_layers[:per_stage]:
            x = layer(x)
        x = self.expand_layer(x).reshape(b, n_chunks * k, d)  # slice k of the K*d vector = token k
        for layer in self.decoder_layers[per_stage : 2 * per_stage]:
            x = layer(x)
        x = self.norm(x)
        return F.linear(x, self.lm_head_weight)


@dataclass
class AELossParts:
    loss: torch.Tensor
    ce: torch.Tensor
    kl: torch.Tensor
    masked_ids: torch.Tensor
    mean: torch.Tensor
    log_std: torch.Tensor
    z: torch.Tensor
    logits: torch.Tensor


class Autoencoder(nn.Module):
    """Context-free chunk VAE: K tokens <-> one latent vector."""

    def __init__(self, cfg: AEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = AEEncoder(cfg)
        self.decoder = AEDecoder(cfg)
        # Tie: the same Parameter object is reachable as decoder.lm_head_weight (spec §1.1, §7.3).
        self.decoder.lm_head_weight = self.encoder.embed_tokens.weight

    def encode(self, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(ids)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def training_loss(
        self,
        ids: torch.Tensor,
        token_mask: torch.Tensor,
        eps: torch.Tensor,
        latent_keep: torch.Tensor,
    ) -> AELossParts:
        """Autoencoder.forward in train mode with every random draw injected.

        ids [B, T] int; token_mask [B, T] (nonzero = replace that input id by 0; labels keep the
        original ids); eps [B, L, latent] ~ N(0, 1); latent_keep [B, L, latent] in {0, 1}
        (inverted dropout: z * keep / (1 - ae_dropout)).
        loss = K * mean-CE + kl_weight * KL, KL = mean over chunks of sum_i max(kl_i, kl_clamp).
        """
        cfg = self.cfg
        masked_ids = ids.masked_fill(token_mask.bool(), 0)
        mean, log_std = self.encoder(masked_ids)
        std = torch.exp(log_std)
        z = mean + eps * std
        z = z * (latent_keep / (1.0 - cfg.ae_dropout))
        kl = 0.5 * (mean.pow(2) + std.pow(2) - 1.0 - 2.0 * log_std)
        kl = torch.clamp(kl, min=cfg.kl_clamp).sum(-1).mean()
        logits = self.decoder(z)
        ce = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), ids.reshape(-1).long())
        loss = cfg.patch_size * ce + cfg.kl_weight * kl
        return AELossParts(loss, ce, kl, masked_ids, mean, log_std, z, logits)

    def eval_loss(self, ids: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Autoencoder.forward in eval mode: z is still sampled (mean + eps * std), no masking, no
        dropout; the loss is the plain mean CE (no K factor, no KL)."""
        mean, log_std = self.encoder(ids)
        z = mean + eps * torch.exp(log_std)
        logits = self.decoder(z)
        return F.cross_entropy(logits.reshape(-1, self.cfg.vocab_size), ids.reshape(-1).long())


# --------------------------------------------------------------------------------------------
# Llama backbone (spec §2.2; HF transformers 4.43 LlamaModel, eager attention)
# --------------------------------------------------------------------------------------------


def rope_inv_freq(head_dim: int, theta: float) -> torch.Tensor:
    """inv_freq[i] = 1 / theta^(2i/D), computed in float32 like HF (returned as float32)."""
    exponent = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    return 1.0 / (theta ** exponent)


def rope_cos_sin(positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos/sin [S, D] for integer positions [S]; angles = pos * inv_freq, duplicated (concat(a, a)).

    inv_freq is rounded to float32 as in HF; the product and cos/sin are taken in float64 when
    dtype is float64, else in float32 (HF computes them in float32)."""
    inv_freq = rope_inv_freq(head_dim, theta)
    work = torch.float64 if dtype == torch.float64 else torch.float32
    angles = positions.to(work)[:, None] * inv_freq.to(work)[None, :]
    emb = torch.cat([angles, angles], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, heads, S, D]; cos/sin [S, D]."""
    return x * cos + rotate_half(x) * sin


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """[B, kv_heads, S, D] -> [B, kv_heads*n_rep, S, D]; query head h uses kv head h // n_rep."""
    if n_rep == 1:
        return x
    b, kvh, s, d = x.shape
    return x[:, :, None, :, :].expand(b, kvh, n_rep, s, d).reshape(b, kvh * n_rep, s, d)


class LlamaAttention(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_heads = cfg.num_attention_heads
        self.num_kv_heads = cfg.num_key_value_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads
        h = cfg.hidden_size
        self.q_proj = nn.Linear(h, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(h, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(h, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, h, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        past: Optional[Tuple[torch.Tensor, torch.Tensor]],
    ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        b, s, _ = x.shape
        hd = self.head_dim
        q = self.q_proj(x).view(b, s, self.num_heads, hd).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.num_kv_heads, hd).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.num_kv_heads, hd).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        if past is not None:  # the cache holds post-RoPE keys, like HF's DynamicCache
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        new_past = (k, v)
        n_rep = self.num_heads // self.num_kv_heads
        k_full = repeat_kv(k, n_rep)
        v_full = repeat_kv(v, n_rep)
        scores = torch.matmul(q, k_full.transpose(2, 3)) / math.sqrt(hd)  # [B, nh, S, S_total]
        total = k_full.shape[2]
        past_len = total - s
        q_pos = torch.arange(past_len, total)[:, None]
        k_pos = torch.arange(total)[None, :]
        scores = scores.masked_fill(k_pos > q_pos, float("-inf"))
        in_dtype = scores.dtype
        probs = F.softmax(scores.float() if in_dtype in HALF_DTYPES else scores, dim=-1).to(in_dtype)
        out = torch.matmul(probs, v_full)  # [B, nh, S, hd]
        out = out.transpose(1, 2).reshape(b, s, self.num_heads * hd)
        return self.o_proj(out), new_past


class LlamaDecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(cfg)
        self.mlp = SwiGLUMLP(cfg.hidden_size, cfg.intermediate_size)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, past):
        attn_out, new_past = self.self_attn(self.input_layernorm(x), cos, sin, past)
        x = x + attn_out
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, new_past


class LlamaModel(nn.Module):
    """Embedding table + decoder layers + final RMSNorm. Positions = cache length + 0..S-1."""

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.layers = nn.ModuleList([LlamaDecoderLayer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        past_key_values: Optional[KVCache] = None,
    ) -> Tuple[torch.Tensor, KVCache]:
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        x = inputs_embeds
        s = x.shape[1]
        past_len = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        head_dim = self.cfg.hidden_size // self.cfg.num_attention_heads
        cos, sin = rope_cos_sin(torch.arange(past_len, past_len + s), head_dim, self.cfg.rope_theta, x.dtype)
        new_cache: KVCache = []
        for i, layer in enumerate(self.layers):
            x, layer_past = layer(x, cos, sin, None if past_key_values is None else past_key_values[i])
            new_cache.append(layer_past)
        return self.norm(x), new_cache


class LlamaForCausalLM(nn.Module):
    """The AR baseline (train_ar.py): LlamaModel under `model.*` plus an untied `lm_head`."""

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def forward(self, input_ids: torch.Tensor, past_key_values: Optional[KVCache] = None) -> Tuple[torch.Tensor, KVCache]:
        h, cache = self.model(input_ids=input_ids, past_key_values=past_key_values)
        return self.lm_head(h), cache

    def loss(self, input_ids: torch.Tensor) -> torch.Tensor:
        """HF causal-LM loss: mean CE of logits[:, :-1] against input_ids[:, 1:]."""
        logits, _ = self.forward(input_ids)
        v = self.cfg.vocab_size
        return F.cross_entropy(logits[:, :-1].reshape(-1, v), input_ids[:, 1:].reshape(-1).long())


# --------------------------------------------------------------------------------------------
# Generative head (spec §2.1 MLPGenerator) and energy score (spec §2.3)
# --------------------------------------------------------------------------------------------


class MLPBlock(nn.Module):
    def __init__(self, h: int) -> None:
        super().__init__()
        self.in_ln = nn.LayerNorm(h, eps=1e-6)
        self.linears = nn.Sequential(nn.Linear(2 * h, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 2 * h))
        self.gate_act = nn.SiLU()
        self.down_proj = nn.Linear(h, h)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        g = self.linears(torch.cat([self.in_ln(x), c], dim=-1))
        gate, up = g.chunk(2, dim=-1)  # first H outputs = gate, last H = up
        return x + self.down_proj(self.gate_act(gate) * up)


class HeadFinalLayer(nn.Module):
    def __init__(self, h: int, latent: int) -> None:
        super().__init__()
        self.in_ln = nn.LayerNorm(h, eps=1e-6)
        self.linears = nn.Sequential(nn.Linear(h, h), nn.SiLU(), nn.Linear(h, latent))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linears(self.in_ln(x))


class MLPGenerator(nn.Module):
    """One forward pass per sample: (hidden [..., H], uniform noise [..., noise]) -> latent [..., l].
    The noise is Uniform(-0.5, 0.5) in the official sampler; here it is an input."""

    def __init__(self, cfg: CALMConfig) -> None:
        super().__init__()
        h = cfg.hidden_size
        self.noise_embd = nn.Linear(cfg.noise_size, h)
        self.hidden_embd = nn.Linear(h, h)
        self.norm_hidden = nn.LayerNorm(h, eps=1e-6)
        self.norm_noise = nn.LayerNorm(h, eps=1e-6)
        self.mlp_blocks = nn.ModuleList([MLPBlock(h) for _ in range(cfg.num_mlp_layers)])
        self.final_layer = HeadFinalLayer(h, cfg.latent_size)

    def forward(self, hidden: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        s = self.norm_noise(self.noise_embd(noise))
        c = self.norm_hidden(self.hidden_embd(hidden))
        for block in self.mlp_blocks:
            s = block(s, c)
        return self.final_layer(s)


@dataclass
class EnergyParts:
    score: torch.Tensor  # [P]
    fidelity: torch.Tensor  # [P]
    diversity: torch.Tensor  # [P]
    loss: torch.Tensor  # scalar = mean(-score)


def energy_score(samples: torch.Tensor, targets: torch.Tensor, alpha: float) -> EnergyParts:
    """samples [P, N, l] (model), targets [P, M, l] (posterior samples) -> per-position energy score.

    fidelity = mean_{n,m} ||x_n - y_m||^a; diversity = sum over the full N x N matrix of
    ||x_n - x_k||^a / (N (N-1)) (the diagonal is exactly 0; torch's norm gradient at 0 is 0);
    score = diversity - 2 fidelity; loss = mean over positions of -score.
    """
    n = samples.shape[1]
    d_xy = torch.linalg.vector_norm(samples[:, :, None, :] - targets[:, None, :, :], dim=-1).pow(alpha)
    d_xx = torch.linalg.vector_norm(samples[:, :, None, :] - samples[:, None, :, :], dim=-1).pow(alpha)
    fidelity = d_xy.mean(dim=(1, 2))
    diversity = d_xx.sum(dim=(1, 2)) / (n * (n - 1))
    score = diversity - 2.0 * fidelity
    return EnergyParts(score, fidelity, diversity, (-score).mean())


# --------------------------------------------------------------------------------------------
# Flow-matching head (spec §5.4; official models/modeling_flow.py: FlowLoss + SimpleMLPAdaLN)
# --------------------------------------------------------------------------------------------

FLOW_TIME_SCALE = 1000  # official SimpleMLPAdaLN.forward: t -> (t * 1000).long()
FLOW_NOMINAL_STEPS = 20  # official FlowLoss.sample: 20 steps, halved for the midpoint solver


def flow_timesteps(t: torch.Tensor) -> torch.Tensor:
    """Continuous flow time t in [0, 1] -> the integer timestep fed to the time embedding.

    Officially t is a float32 tensor (torch.rand / torch.full), multiplied by 1000 in float32 and
    truncated with .long(); t is rounded to float32 first here so a float64 run gives the same ids."""
    return (t.to(torch.float32) * FLOW_TIME_SCALE).long()


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [cos(t f_i), sin(t f_i)], f_i = exp(-ln(max_period) i / half) (MAR/DiT).

    Computed in float32 whatever the caller's dtype, as the official TimestepEmbedder does
    (float32 frequencies, t.float(), float32 products and cos/sin); returned as float32. With
    t up to 999 the float32 arguments carry ~6e-5 rad of rounding, so a float64 evaluation would
    not be the official value."""
    half = dim // 2
    freqs = torch.exp((-math.log(max_period) * torch.arange(half, dtype=torch.float32)) / half)
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden: int, frequency_embedding_size: int = 256) -> None:
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(nn.Linear(frequency_embedding_size, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        emb = timestep_embedding(t, self.frequency_embedding_size)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class AdaLNResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.in_ln = nn.LayerNorm(channels, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, channels))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(channels, 3 * channels))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = self.adaLN_modulation(y).chunk(3, dim=-1)
        h = self.mlp(modulate(self.in_ln(x), shift, scale))
        return x + gate * h


class AdaLNFinalLayer(nn.Module):
    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(channels, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(channels, out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(channels, 2 * channels))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class SimpleMLPAdaLN(nn.Module):
    """The MLP of the flow and diffusion heads: x -> input_proj; y = time_embed(τ) + cond_embed(c);
    res blocks modulated by y; final layer modulated by y. Flow (`flow_time`): t is the continuous
    time in [0, 1] and τ = (t * 1000).long() (modeling_flow.py); diffusion: t is already an integer
    timestep and τ = t (modeling_diffusion.py, whose module is otherwise identical)."""

    def __init__(self, in_channels: int, model_channels: int, out_channels: int, z_channels: int, num_res_blocks: int, flow_time: bool = True) -> None:
        super().__init__()
        self.flow_time = flow_time
        self.time_embed = TimestepEmbedder(model_channels)
        self.cond_embed = nn.Linear(z_channels, model_channels)
        self.input_proj = nn.Linear(in_channels, model_channels)
        self.res_blocks = nn.ModuleList([AdaLNResBlock(model_channels) for _ in range(num_res_blocks)])
        self.final_layer = AdaLNFinalLayer(model_channels, out_channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = self.input_proj(x)
        y = self.time_embed(flow_timesteps(t) if self.flow_time else t) + self.cond_embed(c)
        for block in self.res_blocks:
            x = block(x, y)
        return self.final_layer(x, y)


class FlowHead(nn.Module):
    """FlowLoss of models/modeling_flow.py: the net lives under `generative_head.net.*` with
    in = out = latent_size, model_channels = z_channels = hidden_size, num_res_blocks = num_mlp_layers.

    Training: t ~ U[0, 1) per row, x0 ~ N(0, I), x_t = (1 - t) x0 + t x1 (x1 = a posterior sample of
    the target chunk), velocity target x1 - x0, loss = mean squared error (per-row mean over the
    latent dims, then the mean over rows: the mean over all elements).
    Sampling: x0 ~ N(0, I) at t = 0, solved to t = 1 with 20 nominal steps: 10 midpoint steps
    (the official default, 2 net calls each) or 20 Euler steps.
    """

    def __init__(self, cfg: CALMConfig) -> None:
        super().__init__()
        self.net = SimpleMLPAdaLN(cfg.latent_size, cfg.hidden_size, cfg.latent_size, cfg.hidden_size, cfg.num_mlp_layers)

    def loss(self, hidden: torch.Tensor, x1: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """hidden [R, H], x1 [R, l], x0 [R, l], t [R] in [0, 1)."""
        tt = t.to(x1.dtype)[:, None]
        xt = (1 - tt) * x0 + tt * x1
        v = self.net(xt, t, hidden)
        return (v - (x1 - x0)).pow(2).mean()

    @staticmethod
    def solver_times(solver: str = "midpoint", nominal_steps: int = FLOW_NOMINAL_STEPS) -> List[Tuple[torch.Tensor, ...]]:
        """Per solver step, the float32 time value(s) at which the net is called, built exactly
        like the official sampler (t = step/num_steps in float32; t_mid = t + dt/2 in float32)."""
        steps = nominal_steps // 2 if solver == "midpoint" else nominal_steps
        dt = 1.0 / steps
        out: List[Tuple[torch.Tensor, ...]] = []
        for step in range(steps):
            t = torch.full((1,), step / steps, dtype=torch.float32)
            out.append((t, t + 0.5 * dt) if solver == "midpoint" else (t,))
        return out

    def sample(self, hidden: torch.Tensor, x0: torch.Tensor, solver: str = "midpoint", nominal_steps: int = FLOW_NOMINAL_STEPS) -> torch.Tensor:
        """ODE solve from t = 0 (x0 [R, l]) to t = 1 conditioned on hidden [R, H]."""
        if solver not in ("midpoint", "euler"):
            raise ValueError(f"unknown solver {solver!r}")
        x = x0
        times = self.solver_times(solver, nominal_steps)
        dt = 1.0 / len(times)
        r = x.shape[0]
        for ts in times:
            t = ts[0].expand(r)
            if solver == "midpoint":
                x_mid = x + 0.5 * dt * self.net(x, t, hidden)
                x = x + dt * self.net(x_mid, ts[1].expand(r), hidden)
            else:
                x = x + dt * self.net(x, t, hidden)
        return x


# --------------------------------------------------------------------------------------------
# Diffusion head (models/modeling_diffusion.py DiffLoss + models/diffusion/*: MAR/DiT's port of
# OpenAI's improved-diffusion GaussianDiffusion)
# --------------------------------------------------------------------------------------------

DIFFUSION_STEPS = 1000  # create_diffusion(diffusion_steps=1000)
DIFFUSION_SAMPLING_STEPS = 100  # DiffLoss: num_sampling_steps = '100' (timestep_respacing)


def named_beta_schedule(name: str, num_timesteps: int) -> np.ndarray:
    """get_named_beta_schedule: 'linear' (Ho et al., scaled to num_timesteps) or 'cosine'
    (Nichol & Dhariwal: betas from alpha_bar(t) = cos((t + 0.008) / 1.008 * pi / 2)^2, capped at
    0.999). float64, like the official numpy tables."""
    if name == "linear":
        scale = 1000 / num_timesteps
        return np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)
    if name == "cosine":
        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        return np.array([min(1 - alpha_bar((i + 1) / num_timesteps) / alpha_bar(i / num_timesteps), 0.999) for i in range(num_timesteps)])
    raise ValueError(f"unknown beta schedule {name!r}")


def space_timesteps(num_timesteps: int, section_counts: List[int]) -> List[int]:
    """respace.space_timesteps for a list of section counts (the official string "100" is [100]):
    each of the len(section_counts) equal portions of [0, num_timesteps) is strided to its count with
    a fractional stride and Python's round (half to even). Returned sorted (the official set is
    iterated in timestep order when the respaced diffusion is built). The "ddimN" form is not ported
    (DiffLoss does not use it)."""
    size_per, extra = divmod(num_timesteps, len(section_counts))
    start, steps = 0, []
    for i, count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError(f"cannot divide section of {size} steps into {count}")
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            steps.append(start + round(cur))
            cur += stride
        start += size
    return sorted(set(steps))


class DiffusionSchedule:
    """The tables of gaussian_diffusion.GaussianDiffusion for given betas (float64 numpy), as a
    SpacedDiffusion builds them: the base betas' alphas_cumprod are kept at `use_timesteps` only and
    new betas 1 - acp[i] / acp[prev] are derived (for all timesteps this re-derives the betas up to
    rounding, exactly as the official train_diffusion does). `timestep_map[k]` is the original
    timestep fed to the network at respaced step k."""

    def __init__(self, base_betas: np.ndarray, use_timesteps: List[int]) -> None:
        base_acp = np.cumprod(1.0 - np.asarray(base_betas, dtype=np.float64))
        keep = set(use_timesteps)
        last, new_betas, self.timestep_map = 1.0, [], []
        for i, acp in enumerate(base_acp):
            if i in keep:
                new_betas.append(1 - acp / last)
                last = acp
                self.timestep_map.append(i)
        betas = np.array(new_betas, dtype=np.float64)
        assert (betas > 0).all() and (betas <= 1).all()
        self.num_timesteps = len(betas)
        self.betas = betas
        self.log_betas = np.log(betas)
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # the posterior variance is 0 at t = 0: its log is clipped to the value at t = 1
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        # FIXED_LARGE (learn_sigma=False): betas, with the first replaced by the posterior variance at t = 1
        self.fixed_large_log_variance = np.log(np.append(self.posterior_variance[1], betas[1:]))

    TABLES = (
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
        "posterior_mean_coef1", "posterior_mean_coef2", "log_betas", "fixed_large_log_variance",
    )

    def extract(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """_extract_into_tensor: table[t] as [R, 1] in like's dtype (officially float32: .float())."""
        return torch.from_numpy(getattr(self, name))[t].to(like.dtype)[:, None]


def make_schedule(num_timesteps: int = DIFFUSION_STEPS, respacing: int | None = None, noise_schedule: str = "cosine") -> DiffusionSchedule:
    """create_diffusion(timestep_respacing=str(respacing) or "" (all steps), noise_schedule)."""
    use = list(range(num_timesteps)) if respacing is None else space_timesteps(num_timesteps, [respacing])
    return DiffusionSchedule(named_beta_schedule(noise_schedule, num_timesteps), use)


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) per element (diffusion_utils.normal_kl)."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """The tanh approximation of the standard normal CDF (diffusion_utils)."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor) -> torch.Tensor:
    """Log-probability of the 1/255-wide bin around x under N(means, e^(2 log_scales)), with open
    end bins below -0.999 / above 0.999 (made for images in [-1, 1]; the official head applies it
    to latents unchanged). Probabilities are clamped at 1e-12 before the log."""
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


@dataclass
class DiffusionPMV:
    mean: torch.Tensor
    log_variance: torch.Tensor
    pred_xstart: torch.Tensor


@dataclass
class DiffusionLossParts:
    loss: torch.Tensor  # [R] mse + vb (the official per-row loss)
    mse: torch.Tensor  # [R]
    vb: torch.Tensor  # [R] (zeros without learned variance)
    x_t: torch.Tensor  # [R, l]
    model_output: torch.Tensor  # [R, out]


class DiffusionHead(nn.Module):
    """DiffLoss of models/modeling_diffusion.py: the net lives under `generative_head.net.*` with
    in = latent, out = 2·latent (ε and the variance interpolation v; `learn_sigma`), model_channels =
    z_channels = hidden_size, num_res_blocks = num_mlp_layers; the integer timestep goes to the time
    embedding unscaled. The official defaults of create_diffusion as DiffLoss calls it: cosine
    schedule, 1000 steps, ε prediction, LEARNED_RANGE variance, loss type MSE (ε MSE + the VLB term
    on the variance), sampling respaced to 100 steps. `learn_sigma=False` gives FIXED_LARGE variance
    and the MSE alone (create_diffusion's alternative; out = latent)."""

    def __init__(self, cfg: CALMConfig, learn_sigma: bool = True, num_timesteps: int = DIFFUSION_STEPS, noise_schedule: str = "cosine") -> None:
        super().__init__()
        self.learn_sigma = learn_sigma
        self.latent = cfg.latent_size
        self.num_timesteps = num_timesteps
        self.noise_schedule = noise_schedule
        out = 2 * cfg.latent_size if learn_sigma else cfg.latent_size
        self.net = SimpleMLPAdaLN(cfg.latent_size, cfg.hidden_size, out, cfg.hidden_size, cfg.num_mlp_layers, flow_time=False)
        self.train_schedule = make_schedule(num_timesteps, None, noise_schedule)

    def schedule(self, respacing: int | None) -> DiffusionSchedule:
        return make_schedule(self.num_timesteps, respacing, self.noise_schedule)

    def p_mean_variance(self, sched: DiffusionSchedule, model_output: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> DiffusionPMV:
        """GaussianDiffusion.p_mean_variance (clip_denoised=False) from the network output at
        respaced step indices t [R] of `sched` (the network itself was called with timestep_map[t])."""
        l = x.shape[1]
        if self.learn_sigma:
            eps, v = model_output[:, :l], model_output[:, l:]
            min_log = sched.extract("posterior_log_variance_clipped", t, x)
            max_log = sched.extract("log_betas", t, x)
            frac = (v + 1) / 2  # v in [-1, 1] spans [min_var, max_var] (not clamped)
            log_variance = frac * max_log + (1 - frac) * min_log
        else:
            eps = model_output
            log_variance = sched.extract("fixed_large_log_variance", t, x) + torch.zeros_like(x)
        pred_xstart = sched.extract("sqrt_recip_alphas_cumprod", t, x) * x - sched.extract("sqrt_recipm1_alphas_cumprod", t, x) * eps
        mean = sched.extract("posterior_mean_coef1", t, x) * pred_xstart + sched.extract("posterior_mean_coef2", t, x) * x
        return DiffusionPMV(mean, log_variance, pred_xstart)

    def loss_parts(self, hidden: torch.Tensor, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, vb_eps: Optional[torch.Tensor] = None) -> DiffusionLossParts:
        """GaussianDiffusion.training_losses (LossType.MSE) on rows: hidden [R, H], x_start [R, l],
        t [R] integer timesteps in [0, num_timesteps) (officially torch.randint), noise [R, l]
        (officially randn_like(x_start)). The VLB term sees the ε prediction detached (it trains
        only the variance output); it is the KL to the true posterior q(x_{t-1} | x_t, x_0) in bits
        per dim, or at t = 0 the discretised-Gaussian decoder NLL. `vb_eps` replaces that detached
        ε by a given constant (for finite-difference checks of the gradient, which ignores it)."""
        s = self.train_schedule
        x_t = s.extract("sqrt_alphas_cumprod", t, x_start) * x_start + s.extract("sqrt_one_minus_alphas_cumprod", t, x_start) * noise
        out = self.net(x_t, t, hidden)
        l = x_start.shape[1]
        eps = out[:, :l]
        mse = ((noise - eps) ** 2).mean(dim=1)
        if not self.learn_sigma:
            return DiffusionLossParts(mse, mse, torch.zeros_like(mse), x_t, out)
        frozen = torch.cat([eps.detach() if vb_eps is None else vb_eps, out[:, l:]], dim=1)
        pmv = self.p_mean_variance(s, frozen, x_t, t)
        true_mean = s.extract("posterior_mean_coef1", t, x_t) * x_start + s.extract("posterior_mean_coef2", t, x_t) * x_t
        true_log_var = s.extract("posterior_log_variance_clipped", t, x_t)
        kl = normal_kl(true_mean, true_log_var, pmv.mean, pmv.log_variance).mean(dim=1) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x_start, pmv.mean, 0.5 * pmv.log_variance).mean(dim=1) / math.log(2.0)
        vb = torch.where(t == 0, nll, kl)
        return DiffusionLossParts(mse + vb, mse, vb, x_t, out)

    def loss(self, hidden: torch.Tensor, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """DiffLoss.forward followed by DiffusionTransformer's loss.mean()."""
        return self.loss_parts(hidden, x_start, t, noise).loss.mean()

    def sample(self, hidden: torch.Tensor, x_T: torch.Tensor, step_noise: torch.Tensor, respacing: int = DIFFUSION_SAMPLING_STEPS, temperature: float = 1.0) -> torch.Tensor:
        """DiffLoss.sample (cfg = 1): p_sample_loop of the respaced diffusion from x_T [R, l]
        (officially randn) over steps k = S-1 .. 0, the net called with timestep_map[k];
        x <- mean + exp(log_var / 2) * z_k * temperature, no noise at k = 0. step_noise [S-1, R, l]:
        z for the steps k = S-1 .. 1 in loop order (the official loop also draws one at k = 0 and
        multiplies it by 0)."""
        sched = self.schedule(respacing)
        S = sched.num_timesteps
        assert step_noise.shape[0] == S - 1
        r = x_T.shape[0]
        x = x_T
        for j, k in enumerate(range(S - 1, -1, -1)):
            t = torch.full((r,), k, dtype=torch.long)
            out = self.net(x, torch.full((r,), sched.timestep_map[k], dtype=torch.long), hidden)
            pmv = self.p_mean_variance(sched, out, x, t)
            x = pmv.mean if k == 0 else pmv.mean + torch.exp(0.5 * pmv.log_variance) * step_noise[j] * temperature
        return x


# --------------------------------------------------------------------------------------------
# EnergyTransformer (spec §2.1, §2.4, names §7.4)
# --------------------------------------------------------------------------------------------


@dataclass
class CALMLossParts:
    loss: torch.Tensor
    target_mean: torch.Tensor  # [B, L-1, l]
    target_log_std: torch.Tensor  # [B, L-1, l]
    targets: torch.Tensor  # [B, L-1, M, l]
    compressed: torch.Tensor  # [B, L-1, H] embed_proj output fed to the backbone
    hidden: torch.Tensor  # [B, L-1, H]
    samples: torch.Tensor  # [B, L-1, N, l]
    energy: EnergyParts = field(repr=False)


class EnergyTransformer(nn.Module):
    """CALM LM: frozen AE + Llama backbone over chunk vectors + MLPGenerator + input compression."""

    def __init__(self, cfg: CALMConfig, ae_cfg: AEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if ae_cfg.patch_size != cfg.patch_size or ae_cfg.latent_size != cfg.latent_size or ae_cfg.vocab_size != cfg.vocab_size:
            raise ValueError("AE and LM configs disagree on patch_size/latent_size/vocab_size")
        self.ae_model = Autoencoder(ae_cfg)
        for p in self.ae_model.parameters():
            p.requires_grad_(False)
        self.transformer = LlamaModel(cfg)
        self.mlp_generator = MLPGenerator(cfg)
        self.generative_head = self.mlp_generator  # alias: same module, keys appear twice in state_dict
        h, k = cfg.hidden_size, cfg.patch_size
        self.embed_proj = nn.Sequential(nn.Linear(k * h, 2 * h), nn.SiLU(), nn.Linear(2 * h, h), nn.LayerNorm(h, eps=1e-6))

    def compress(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, S*K] -> embed_proj(concat of the K token embeddings per chunk) [B, S, H]."""
        b, t = ids.shape
        k, h = self.cfg.patch_size, self.cfg.hidden_size
        e = self.transformer.embed_tokens(ids).reshape(b, t // k, k * h)
        return self.embed_proj(e)

    def training_loss(self, ids: torch.Tensor, head_noise: torch.Tensor, target_eps: torch.Tensor) -> CALMLossParts:
        """EnergyTransformer.forward (input_ids == labels, all positions valid).

        ids [B, T], T = L*K; head_noise [B, L-1, N, noise] (Uniform(-0.5, 0.5) in the official code);
        target_eps [B, L-1, M, l] ~ N(0, 1). Hidden at position t (chunks 0..t) predicts chunk t+1.
        """
        cfg = self.cfg
        b, t = ids.shape
        k, h = cfg.patch_size, cfg.hidden_size
        n_chunks = t // k
        with torch.no_grad():
            mean, log_std = self.ae_model.encoder(ids[:, k:])  # targets: chunks 1..L-1
        targets = mean[:, :, None, :] + torch.exp(log_std)[:, :, None, :] * target_eps
        e = self.transformer.embed_tokens(ids).reshape(b, n_chunks, k * h)[:, :-1]  # inputs: chunks 0..L-2
        u = self.embed_proj(e)
        hidden, _ = self.transformer(inputs_embeds=u)
        n = head_noise.shape[2]
        hid_rep = hidden[:, :, None, :].expand(b, n_chunks - 1, n, h)
        samples = self.mlp_generator(hid_rep, head_noise)  # [B, L-1, N, l]
        p = b * (n_chunks - 1)
        energy = energy_score(samples.reshape(p, n, -1), targets.reshape(p, targets.shape[2], -1), cfg.beta)
        return CALMLossParts(energy.loss, mean, log_std, targets, u, hidden, samples, energy)
