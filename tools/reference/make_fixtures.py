"""Builds the CALM parity fixtures (safetensors + PyTorch .bin files) for the TypeScript packages
from the reference modules in calm_reference.py. Deterministic: re-running with the same PyTorch
version rewrites byte-identical files. See README.md for the fixture contents.

Usage (from the repository root):
    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 -B tools/reference/make_fixtures.py          # write
    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 -B tools/reference/make_fixtures.py --check  # compare
"""

from __future__ import annotations

import sys

sys.dont_write_bytecode = True

import argparse
import copy
import dataclasses
import hashlib
import io
import json
import math
import os
import pickletools
import shutil
import struct
import tempfile
import zipfile
from collections import OrderedDict
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import safetensors_io as st  # noqa: E402
from calm_reference import (  # noqa: E402
    AEConfig,
    Autoencoder,
    CALMConfig,
    DiffusionHead,
    DiffusionSchedule,
    EnergyTransformer,
    FlowHead,
    LlamaConfig,
    LlamaForCausalLM,
    MLPGenerator,
    RMSNorm,
    energy_score,
    discretized_gaussian_log_likelihood,
    flow_timesteps,
    make_schedule,
    rope_cos_sin,
    timestep_embedding,
)

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
AE_DIR = "packages/autoencoder/test/fixtures"
HEAD_DIR = "packages/energy-head/test/fixtures"
TRAINER_DIR = "packages/model/test/fixtures"
FORMAT_VERSION = "1"
GENERATOR = "tools/reference/make_fixtures.py"

torch.set_num_threads(1)



# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def rng(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def uniform(g: torch.Generator, *shape: int) -> torch.Tensor:
    """Uniform(-0.5, 0.5), the head's noise distribution."""
    return torch.rand(*shape, generator=g, dtype=torch.float32) - 0.5


def randomize_(root: nn.Module, seed: int) -> None:
    """Fixture weights (NOT the official init; chosen so every weight visibly matters):
    Linear weight N(0, 1/fan_in), biases N(0, 0.1^2), norm weights 1 + N(0, 0.1^2), LayerNorm
    biases N(0, 0.1^2), embeddings N(0, 0.5^2); an Embedding's padding_idx row is 0."""
    g = rng(seed)
    seen = set()
    with torch.no_grad():
        for _, mod in root.named_modules():
            for p_name, p in mod.named_parameters(recurse=False):
                if id(p) in seen:
                    continue
                seen.add(id(p))
                if isinstance(mod, (RMSNorm, nn.LayerNorm)) and p_name == "weight":
                    v = 1.0 + 0.1 * randn(g, *p.shape)
                elif p_name == "bias":
                    v = 0.1 * randn(g, *p.shape)
                elif isinstance(mod, nn.Embedding):
                    v = 0.5 * randn(g, *p.shape)
                elif isinstance(mod, nn.Linear):
                    v = randn(g, *p.shape) / math.sqrt(p.shape[1])
                else:
                    raise TypeError(f"no init rule for {type(mod).__name__}.{p_name}")
                p.copy_(v)
            if isinstance(mod, nn.Embedding) and mod.padding_idx is not None:
                mod.weight[mod.padding_idx].zero_()


def weights(model: nn.Module) -> "OrderedDict[str, torch.Tensor]":
    """Parameters under their official names, each tensor once (aliases such as
    decoder.lm_head_weight / generative_head.* are left out)."""
    return OrderedDict((n, p.detach().to(torch.float32).clone()) for n, p in model.named_parameters())


def as_stored(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    if t.is_floating_point():
        return t.to(torch.float32)
    if t.dtype in (torch.int64, torch.int32, torch.bool, torch.uint8):
        return t.to(torch.int32)
    raise TypeError(t.dtype)


def check_margin(logits: torch.Tensor, what: str, min_gap: float = 1e-3) -> None:
    top2 = logits.double().topk(2, dim=-1).values
    gap = (top2[..., 0] - top2[..., 1]).min().item()
    if gap < min_gap:
        raise AssertionError(f"{what}: argmax margin {gap:.2e} too small for a stable parity test")


def fd_check(loss_fn: Callable[[], torch.Tensor], param: torch.Tensor, grad: torch.Tensor, label: str, g: torch.Generator, entries: int = 4, h: float = 1e-4, skip_row: int | None = None) -> float:
    """Central finite differences (float64) on a few entries of `param` against autograd.
    `skip_row`: an Embedding padding_idx row (autograd gives it no gradient by design)."""
    worst = 0.0
    flat = param.data.view(-1)
    gflat = grad.reshape(-1)
    gmax = gflat.abs().max().item()
    idx = torch.randint(0, flat.numel(), (entries,), generator=g).tolist()
    # include the entry with the largest |grad| so the check is never trivially on zeros
    idx.append(int(gflat.abs().argmax()))
    row_len = param.shape[-1] if param.dim() == 2 else 1
    for i in idx:
        if skip_row is not None and i // row_len == skip_row:
            continue
        orig = flat[i].item()
        with torch.no_grad():
            flat[i] = orig + h
            lp = loss_fn().item()
            flat[i] = orig - h
            lm = loss_fn().item()
            flat[i] = orig
        fd = (lp - lm) / (2 * h)
        # relative to the entry, floored at 1% of the tensor's largest |grad| (round-off of the
        # difference quotient is ~1e-10 absolute, which would swamp near-zero entries)
        err = abs(fd - gflat[i].item()) / max(abs(gflat[i].item()), 1e-2 * gmax)
        worst = max(worst, err)
    if worst > 1e-5:
        raise AssertionError(f"finite-difference check failed for {label}: rel err {worst:.2e}")
    return worst


class Report:
    def __init__(self) -> None:
        self.lines: List[str] = []

    def log(self, msg: str) -> None:
        self.lines.append(msg)
        print(msg, flush=True)


REPORT = Report()


def drift(out64: Dict[str, torch.Tensor], out32: Dict[str, torch.Tensor], fixture: str) -> None:
    """Max |fp32 - fp64| per expected tensor, relative to max |fp64| of that tensor (guides TS tolerances)."""
    worst_name, worst = "", 0.0
    for k, a in out64.items():
        b = out32[k]
        if not a.is_floating_point():
            if not torch.equal(a.to(torch.int64), b.to(torch.int64)):
                raise AssertionError(f"{fixture}: {k} differs between fp32 and fp64 runs")
            continue
        scale = a.double().abs().max().item()
        d = (a.double() - b.double()).abs().max().item() / max(scale, 1e-30)
        if d > worst:
            worst_name, worst = k, d
    REPORT.log(f"  fp32-vs-fp64 worst relative drift: {worst:.2e} ({worst_name})")


def config_json(obj: Dict[str, object]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def write_fixture(out_root: str, rel_path: str, tensors: "OrderedDict[str, torch.Tensor]", config: Dict[str, object], extra_meta: Dict[str, str] | None = None) -> None:
    path = os.path.join(out_root, rel_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    meta = {"format_version": FORMAT_VERSION, "config": config_json(config), "generator": GENERATOR}
    if extra_meta:
        meta.update(extra_meta)
    stored = OrderedDict((k, as_stored(v)) for k, v in tensors.items())
    size = st.write_file(path, stored, meta)
    # round trip through the reader
    meta_back, back = st.read_file(path)
    assert meta_back == meta and list(back) == list(stored)
    for k, v in stored.items():
        assert torch.equal(back[k], v), k
    REPORT.log(f"  wrote {rel_path}: {len(stored)} tensors, {size} bytes")


def run_both(compute: Callable[[torch.dtype], Dict[str, torch.Tensor]], fixture: str) -> Dict[str, torch.Tensor]:
    out64 = compute(torch.float64)
    out32 = compute(torch.float32)
    drift(out64, out32, fixture)
    return out64


# --------------------------------------------------------------------------------------------
# Independent loop-level re-statements used as cross-checks of the vectorised reference
# --------------------------------------------------------------------------------------------


def naive_backbone(m, x: torch.Tensor) -> torch.Tensor:
    """LlamaModel forward written with explicit loops over rows, heads and positions (float64)."""
    cfg = m.cfg
    nh, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
    d = cfg.hidden_size // nh
    half = d // 2
    inv = [1.0 / (cfg.rope_theta ** (2 * i / d)) for i in range(half)]
    inv = torch.tensor(inv, dtype=torch.float32).double().tolist()  # HF rounds inv_freq to float32

    def rms(v, w):
        return w * v / torch.sqrt((v * v).mean() + cfg.rms_norm_eps)

    def rot(v, pos):
        out = v.clone()
        for i in range(half):
            c, s_ = math.cos(pos * inv[i]), math.sin(pos * inv[i])
            out[i] = v[i] * c - v[i + half] * s_
            out[i + half] = v[i + half] * c + v[i] * s_
        return out

    b_sz, s_len, _ = x.shape
    x = x.clone()
    for layer in m.layers:
        at = layer.self_attn
        new = x.clone()
        for b in range(b_sz):
            xn = [rms(x[b, t], layer.input_layernorm.weight) for t in range(s_len)]
            q = [at.q_proj.weight @ v for v in xn]
            k = [at.k_proj.weight @ v for v in xn]
            v_ = [at.v_proj.weight @ v for v in xn]
            heads_out = []
            for t in range(s_len):
                per_head = []
                for hh in range(nh):
                    g = hh // (nh // nkv)
                    qh = rot(q[t][hh * d:(hh + 1) * d], t)
                    scores = torch.stack([qh @ rot(k[j][g * d:(g + 1) * d], j) / math.sqrt(d) for j in range(t + 1)])
                    p = torch.softmax(scores, 0)
                    per_head.append(sum(p[j] * v_[j][g * d:(g + 1) * d] for j in range(t + 1)))
                heads_out.append(torch.cat(per_head))
            for t in range(s_len):
                y = x[b, t] + at.o_proj.weight @ heads_out[t]
                yn = rms(y, layer.post_attention_layernorm.weight)
                mlp = layer.mlp
                y = y + mlp.down_proj.weight @ (torch.nn.functional.silu(mlp.gate_proj.weight @ yn) * (mlp.up_proj.weight @ yn))
                new[b, t] = y
        x = new
    return torch.stack([torch.stack([rms(x[b, t], m.norm.weight) for t in range(s_len)]) for b in range(b_sz)])


def naive_energy_loss(samples: torch.Tensor, targets: torch.Tensor, alpha: float) -> float:
    """Energy loss with explicit loops and off-diagonal pairs only."""
    p_n, n, _ = samples.shape
    m_n = targets.shape[1]
    total = 0.0
    for p in range(p_n):
        fid = sum(torch.dist(samples[p, i], targets[p, j]).item() ** alpha for i in range(n) for j in range(m_n)) / (n * m_n)
        div = sum(torch.dist(samples[p, i], samples[p, k]).item() ** alpha for i in range(n) for k in range(n) if i != k) / (n * (n - 1))
        total += 2 * fid - div
    return total / p_n


# --------------------------------------------------------------------------------------------
# Autoencoder fixtures
# --------------------------------------------------------------------------------------------

AE_GRADS = [
    "encoder.embed_tokens.weight",
    "encoder.encoder_layers.0.mlp.gate_proj.weight",
    "encoder.squeeze_layer.weight",
    "encoder.hidden_to_latent.bias",
    "decoder.decoder_layers.1.mlp.gate_proj.weight",
    "decoder.expand_layer.bias",
    "decoder.norm.weight",
]


def build_ae(out_root: str, rel_path: str, cfg: AEConfig, seed: int, batch: int, seq: int) -> Autoencoder:
    REPORT.log(f"[{rel_path}]")
    model = Autoencoder(cfg)
    randomize_(model, seed)
    g = rng(seed + 1)
    k, lat = cfg.patch_size, cfg.latent_size
    n_chunks = seq // k
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=g)
    token_mask = (torch.rand(batch, seq, generator=g) < cfg.ae_dropout).to(torch.int32)
    token_mask[0, 1] = 1  # at least one masked token, whatever the draw
    eps = randn(g, batch, n_chunks, lat)
    keep = (torch.rand(batch, n_chunks, lat, generator=g) >= cfg.ae_dropout).to(torch.float32)
    keep[0, 0, 0] = 0.0  # at least one dropped latent
    z_in = randn(g, batch, n_chunks, lat)

    fixed = weights(model)
    fixed["input.ids"] = ids
    fixed["noise.token_mask"] = token_mask
    fixed["noise.eps"] = eps
    fixed["noise.latent_keep"] = keep
    fixed["input.z"] = z_in

    def compute(dtype: torch.dtype) -> Dict[str, torch.Tensor]:
        m = copy.deepcopy(model).to(dtype)
        out: Dict[str, torch.Tensor] = OrderedDict()
        with torch.no_grad():
            mean, log_std = m.encode(ids)
            out["expected.latent_mean"] = mean
            out["expected.latent_log_std"] = log_std
            logits = m.decode(z_in.to(dtype))
            out["expected.decoder_logits"] = logits
            out["expected.decoder_argmax"] = logits.argmax(-1)
            out["expected.eval_loss"] = m.eval_loss(ids, eps.to(dtype))
        parts = m.training_loss(ids, token_mask, eps.to(dtype), keep.to(dtype))
        parts.loss.backward()
        out["expected.masked_ids"] = parts.masked_ids
        out["expected.train_latent_mean"] = parts.mean
        out["expected.train_latent_log_std"] = parts.log_std
        out["expected.train_z"] = parts.z
        out["expected.ce"] = parts.ce
        out["expected.kl"] = parts.kl
        out["expected.loss"] = parts.loss
        params = dict(m.named_parameters())
        for n in AE_GRADS:
            out["grad." + n] = params[n].grad
        if dtype == torch.float64:
            check_margin(logits, "ae decoder argmax")
            kl_terms = 0.5 * (parts.mean.pow(2) + parts.log_std.exp().pow(2) - 1 - 2 * parts.log_std)
            frac = (kl_terms < cfg.kl_clamp).double().mean().item()
            REPORT.log(f"  KL terms below the clamp: {frac:.2f} (both branches exercised: {0 < frac < 1})")
            assert 0 < frac < 1
            loss_fn = lambda: m.training_loss(ids, token_mask, eps.to(dtype), keep.to(dtype)).loss  # noqa: E731
            worst = max(fd_check(loss_fn, params[n], params[n].grad, n, rng(seed + 2)) for n in AE_GRADS)
            REPORT.log(f"  finite-difference vs autograd (fp64), worst rel err: {worst:.1e}")
        return out

    out = run_both(compute, rel_path)
    config = {
        "fixture": "autoencoder",
        "ae": dataclasses.asdict(cfg),
        "batch": batch,
        "seq_len": seq,
        "num_chunks_per_row": n_chunks,
        "seed": seed,
        "weights": "fixture init (not the official init): Linear weight std 1/sqrt(fan_in), biases std 0.1, norm weights 1 + std 0.1, embedding std 0.5",
        "decoder.lm_head_weight": "absent: tied to encoder.embed_tokens.weight",
        "token_mask": "1 = input id replaced by 0 (labels keep the original id)",
        "latent_keep": "inverted dropout: z * keep / (1 - ae_dropout)",
        "grads_of": "expected.loss (training loss)",
    }
    write_fixture(out_root, rel_path, OrderedDict(list(fixed.items()) + list(out.items())), config)
    return model


def torch_save(obj: object, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(obj, path)


def write_ae_statedicts(out_root: str, model: Autoencoder, cfg: AEConfig) -> None:
    REPORT.log("[autoencoder state dicts]")
    base = os.path.join(out_root, AE_DIR)
    sd = model.state_dict()
    assert "decoder.lm_head_weight" in sd
    torch_save(sd, os.path.join(base, "ae-tiny-statedict.bin"))
    for tag, dt in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        m = copy.deepcopy(model).to(dt)  # converting the module keeps the tie (one storage)
        sdt = m.state_dict()
        assert sdt["decoder.lm_head_weight"].data_ptr() == sdt["encoder.embed_tokens.weight"].data_ptr()
        torch_save(sdt, os.path.join(base, f"ae-tiny-statedict-{tag}.bin"))
        narrow = OrderedDict((n, p.detach().clone()) for n, p in m.named_parameters())
        meta = {"format": "pt", "format_version": FORMAT_VERSION, "generator": GENERATOR, "config": config_json({"fixture": f"ae state dict {tag}", "ae": dataclasses.asdict(cfg)})}
        st.write_file(os.path.join(base, f"ae-tiny-statedict-{tag}.safetensors"), narrow, meta)
    meta = {"format": "pt", "format_version": FORMAT_VERSION, "generator": GENERATOR, "config": config_json({"fixture": "ae state dict fp32", "ae": dataclasses.asdict(cfg)})}
    st.write_file(os.path.join(base, "ae-tiny-statedict.safetensors"), weights(model), meta)
    # reload the .bin files with torch (our own files, safe) and compare
    for name in ("ae-tiny-statedict.bin", "ae-tiny-statedict-bf16.bin", "ae-tiny-statedict-fp16.bin"):
        back = torch.load(os.path.join(base, name))
        assert list(back) == list(sd), name
        for k, v in back.items():
            ref = sd[k]
            assert torch.allclose(v.float(), ref, rtol=1e-2, atol=1e-3), (name, k)
        REPORT.log(f"  wrote {AE_DIR}/{name} ({os.path.getsize(os.path.join(base, name))} bytes, {len(back)} keys)")


# --------------------------------------------------------------------------------------------
# Hostile pickles (never unpickled here; checked with pickletools.dis only)
# --------------------------------------------------------------------------------------------


def _binunicode(s: str) -> bytes:
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def _short_binunicode(s: str) -> bytes:
    b = s.encode("utf-8")
    return b"\x8c" + bytes([len(b)]) + b


def hostile_pickle_global(module: str, name: str, arg: str) -> bytes:
    """Protocol 2: {"weight": module.name(arg)} via GLOBAL + REDUCE."""
    return (
        b"\x80\x02"  # PROTO 2
        + b"}"  # EMPTY_DICT
        + _binunicode("weight")
        + b"c" + module.encode() + b"\n" + name.encode() + b"\n"  # GLOBAL
        + _binunicode(arg)
        + b"\x85"  # TUPLE1
        + b"R"  # REDUCE
        + b"s"  # SETITEM
        + b"."  # STOP
    )


def hostile_pickle_stack_global(module: str, name: str, arg: str) -> bytes:
    """Protocol 4: the same call, naming the callable with STACK_GLOBAL instead of GLOBAL."""
    return (
        b"\x80\x04"
        + b"}"
        + _short_binunicode("weight")
        + _short_binunicode(module)
        + _short_binunicode(name)
        + b"\x93"  # STACK_GLOBAL
        + _short_binunicode(arg)
        + b"\x85"
        + b"R"
        + b"s"
        + b"."
    )


def write_torch_style_zip(path: str, pkl: bytes) -> None:
    archive = os.path.splitext(os.path.basename(path))[0]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in ((f"{archive}/data.pkl", pkl), (f"{archive}/data/0", b"\x00" * 16), (f"{archive}/version", b"3\n")):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            z.writestr(info, data)


def write_hostile(out_root: str) -> None:
    REPORT.log("[hostile pickles]")
    base = os.path.join(out_root, AE_DIR)
    cases = {
        "malicious-os-system.bin": hostile_pickle_global("os", "system", "echo pwned"),
        "malicious-global.bin": hostile_pickle_global("builtins", "eval", "__import__('os').system('echo pwned')"),
        "malicious-stack-global.bin": hostile_pickle_stack_global("posix", "system", "echo pwned"),
    }
    for fname, pkl in cases.items():
        sink = io.StringIO()
        pickletools.dis(pkl, out=sink)  # parses opcodes only; never executes
        assert "REDUCE" in sink.getvalue()
        write_torch_style_zip(os.path.join(base, fname), pkl)
        REPORT.log(f"  wrote {AE_DIR}/{fname}")


# --------------------------------------------------------------------------------------------
# Generative head fixtures
# --------------------------------------------------------------------------------------------

HEAD_GRADS = [
    "mlp_generator.noise_embd.weight",
    "mlp_generator.hidden_embd.bias",
    "mlp_generator.norm_noise.weight",
    "mlp_generator.mlp_blocks.0.linears.4.weight",
    "mlp_generator.mlp_blocks.1.down_proj.bias",
    "mlp_generator.final_layer.linears.2.weight",
]


def head_config() -> CALMConfig:
    return CALMConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=0, num_attention_heads=4, num_key_value_heads=4,
        patch_size=4, latent_size=8, noise_size=8, num_mlp_layers=2, num_samples=4, beta=1.0, num_target_samples=6,
    )


def build_head(out_root: str) -> None:
    rel = f"{HEAD_DIR}/head-tiny.safetensors"
    REPORT.log(f"[{rel}]")
    cfg = head_config()
    seed = 200
    wrapper = nn.Module()
    wrapper.mlp_generator = MLPGenerator(cfg)
    randomize_(wrapper, seed)
    g = rng(seed + 1)
    b, n, m_t, lat, h = 3, cfg.num_samples, cfg.num_target_samples, cfg.latent_size, cfg.hidden_size
    hidden = randn(g, b, h)
    noise = uniform(g, n, b, cfg.noise_size)
    t_mean = randn(g, b, lat)
    t_log_std = -1.0 + 0.3 * randn(g, b, lat)
    t_eps = randn(g, b, m_t, lat)
    # energy score with coinciding points: P=2 positions, N=4, M=6
    c_samples = randn(g, 2, n, lat)
    c_targets = randn(g, 2, m_t, lat)
    c_samples[0, 1] = c_samples[0, 0]  # two model samples coincide
    c_samples[1, 3] = c_samples[1, 2]  # again, at the other position
    c_samples[1, 0] = c_targets[1, 0]  # a model sample equals a target sample

    fixed = weights(wrapper)
    fixed["input.hidden"] = hidden
    fixed["noise.uniform"] = noise
    fixed["input.target_mean"] = t_mean
    fixed["input.target_log_std"] = t_log_std
    fixed["noise.target_eps"] = t_eps
    fixed["input.coincide_samples"] = c_samples
    fixed["input.coincide_targets"] = c_targets

    def compute(dtype: torch.dtype) -> Dict[str, torch.Tensor]:
        out: Dict[str, torch.Tensor] = OrderedDict()
        targets = t_mean.to(dtype)[:, None, :] + torch.exp(t_log_std.to(dtype))[:, None, :] * t_eps.to(dtype)
        for alpha, tag in ((1.0, "alpha1"), (1.5, "alpha1_5")):
            m = copy.deepcopy(wrapper).to(dtype)
            hid = hidden.to(dtype).clone().requires_grad_(True)
            samples = m.mlp_generator(hid[None].expand(n, b, h), noise.to(dtype))  # [N, B, l]
            e = energy_score(samples.permute(1, 0, 2), targets, alpha)
            e.loss.backward()
            if alpha == 1.0:
                out["expected.samples"] = samples
                out["expected.targets"] = targets
            out[f"expected.score_{tag}"] = e.score
            out[f"expected.fidelity_{tag}"] = e.fidelity
            out[f"expected.diversity_{tag}"] = e.diversity
            out[f"expected.loss_{tag}"] = e.loss
            if dtype == torch.float64:
                naive = naive_energy_loss(samples.detach().permute(1, 0, 2), targets, alpha)
                assert abs(naive - e.loss.item()) < 1e-12, (naive, e.loss.item())
            prefix = "grad." if alpha == 1.0 else f"grad_{tag}."
            params = dict(m.named_parameters())
            for name in HEAD_GRADS:
                out[prefix + name] = params[name].grad
            out[prefix + "input.hidden"] = hid.grad
            if dtype == torch.float64 and alpha == 1.0:
                loss_fn = lambda: energy_score(m.mlp_generator(hid[None].expand(n, b, h), noise.to(dtype)).permute(1, 0, 2), targets, alpha).loss  # noqa: E731
                worst = max(fd_check(loss_fn, params[x], params[x].grad, x, rng(seed + 2)) for x in HEAD_GRADS)
                REPORT.log(f"  finite-difference vs autograd (fp64), worst rel err: {worst:.1e}")
            # coinciding points
            cs = c_samples.to(dtype).clone().requires_grad_(True)
            ec = energy_score(cs, c_targets.to(dtype), alpha)
            ec.loss.backward()
            assert torch.isfinite(cs.grad).all() and torch.isfinite(ec.loss)
            out[f"expected.coincide_loss_{tag}"] = ec.loss
            out[f"{prefix}input.coincide_samples"] = cs.grad
        return out

    out = run_both(compute, rel)
    config = {
        "fixture": "energy-head",
        "calm": dataclasses.asdict(cfg),
        "batch": b,
        "N": n,
        "M": m_t,
        "seed": seed,
        "weights": "fixture init (not official; the last head Linear is NOT zero)",
        "noise.uniform": "[N, B, noise] ~ U(-0.5,0.5); sample [n, b] uses hidden row b (equivalently [N*B, noise] rows n*B+b with hidden.repeat(N,1))",
        "targets": "target_mean[b] + exp(target_log_std[b]) * target_eps[b, m] -> [B, M, l]",
        "energy": "samples permuted to [B, N, l]; fidelity=mean ||x_n-y_m||^a, diversity=sum_{n!=k}||x_n-x_k||^a/(N(N-1)), score=diversity-2*fidelity, loss=mean(-score)",
        "grad.*": "gradients of expected.loss_alpha1; grad_alpha1_5.* of expected.loss_alpha1_5",
        "coincide": "input.coincide_samples[0,1]==[0,0], [1,3]==[1,2], [1,0]==input.coincide_targets[1,0]; torch's gradient of ||0|| is 0",
    }
    write_fixture(out_root, rel, OrderedDict(list(fixed.items()) + list(out.items())), config)


FLOW_GRADS = ["generative_head.net.input_proj.weight", "generative_head.net.time_embed.mlp.0.weight", "generative_head.net.res_blocks.1.adaLN_modulation.1.weight", "generative_head.net.final_layer.linear.bias"]


def away_from_timestep_edges(t: torch.Tensor) -> torch.Tensor:
    """Moves each t in [0, 1) into the middle 60% of its 1/1000 bin (same bin), so floor(t * 1000)
    is the same whether a port multiplies in float32 or float64 (the official code: float32)."""
    scaled = t.double() * 1000
    base = scaled.floor()
    moved = ((base + 0.2 + 0.6 * (scaled - base)) / 1000).to(torch.float32)
    assert torch.equal(flow_timesteps(moved), base.long()) and torch.equal((moved.double() * 1000).floor().long(), base.long())
    return moved


def build_flow(out_root: str) -> None:
    rel = f"{HEAD_DIR}/flow-tiny.safetensors"
    REPORT.log(f"[{rel}]")
    cfg = head_config()
    seed = 300
    wrapper = nn.Module()
    wrapper.generative_head = FlowHead(cfg)
    randomize_(wrapper, seed)
    g = rng(seed + 1)
    solver = "midpoint"
    sample_times = FlowHead.solver_times(solver)
    r, lat, h, steps = 4, cfg.latent_size, cfg.hidden_size, len(sample_times)
    x = randn(g, r, lat)
    t = away_from_timestep_edges(torch.rand(r, generator=g))
    cond = randn(g, r, h)
    x1 = randn(g, r, lat)
    x0 = randn(g, r, lat)
    t_loss = away_from_timestep_edges(torch.rand(r, generator=g))
    x0_sample = randn(g, r, lat)
    fixed = weights(wrapper)
    for k_, v in (("input.x", x), ("input.t", t), ("input.cond", cond), ("input.x1", x1), ("noise.x0", x0), ("noise.t", t_loss), ("noise.sample_x0", x0_sample)):
        fixed[k_] = v

    def compute(dtype: torch.dtype) -> Dict[str, torch.Tensor]:
        m = copy.deepcopy(wrapper).to(dtype)
        head = m.generative_head
        out: Dict[str, torch.Tensor] = OrderedDict()
        with torch.no_grad():
            out["expected.timesteps"] = flow_timesteps(t)
            out["expected.t_embedding"] = timestep_embedding(flow_timesteps(t), 256)
            out["expected.velocity"] = head.net(x.to(dtype), t, cond.to(dtype))
            out["expected.sample"] = head.sample(cond.to(dtype), x0_sample.to(dtype), solver)
            out["expected.sample_timesteps"] = torch.stack([torch.cat([flow_timesteps(v) for v in ts]) for ts in sample_times])
        out["expected.loss_timesteps"] = flow_timesteps(t_loss)
        loss = head.loss(cond.to(dtype), x1.to(dtype), x0.to(dtype), t_loss)
        loss.backward()
        out["expected.loss"] = loss
        params = dict(m.named_parameters())
        for name in FLOW_GRADS:
            out["grad." + name] = params[name].grad
        if dtype == torch.float64:
            loss_fn = lambda: head.loss(cond.to(dtype), x1.to(dtype), x0.to(dtype), t_loss)  # noqa: E731
            worst = max(fd_check(loss_fn, params[x_], params[x_].grad, x_, rng(seed + 2)) for x_ in FLOW_GRADS)
            REPORT.log(f"  finite-difference vs autograd (fp64), worst rel err: {worst:.1e}")
            REPORT.log(f"  sampler timesteps (t, t_mid per step): {out['expected.sample_timesteps'].tolist()}")
        return out

    out = run_both(compute, rel)
    config = {
        "fixture": "flow-head (official models/modeling_flow.py FlowLoss, commit c556310)",
        "calm": dataclasses.asdict(cfg),
        "net": "SimpleMLPAdaLN(in=latent, model_channels=hidden, out=latent, z_channels=hidden, num_res_blocks=num_mlp_layers), frequency_embedding_size 256, max_period 10000",
        "rows": r,
        "solver": solver,
        "nominal_steps": 20,
        "sample_steps": steps,
        "time_scale": 1000,
        "discrete_time": True,
        "seed": seed,
        "time_embedding": "timestep = floor(float32(t) * 1000) (official (t*1000).long()); embedding [cos(ts*f_i), sin(ts*f_i)], f_i=exp(-ln(1e4)*i/128), evaluated in float32 as officially; input.t / noise.t sit in the middle of their 1/1000 bins",
        "loss": "x_t=(1-t)x0+t*x1; v=net(x_t, t, cond); loss=mean((v-(x1-x0))^2) over all elements",
        "sampler": "midpoint, 20 nominal steps halved to 10 (20 net calls), from t=0 (noise.sample_x0) to t=1: t=float32(step/10), t_mid=float32(t+0.05); x_mid=x+dt/2*v(x,t); x=x+dt*v(x_mid,t_mid); expected.sample_timesteps [10,2] = the integer timesteps of (t, t_mid)",
    }
    write_fixture(out_root, rel, OrderedDict(list(fixed.items()) + list(out.items())), config)


DIFF_GRADS = [
    "generative_head.net.input_proj.weight",
    "generative_head.net.time_embed.mlp.0.weight",
    "generative_head.net.cond_embed.bias",
    "generative_head.net.res_blocks.1.adaLN_modulation.1.weight",
    "generative_head.net.final_layer.linear.weight",
    "generative_head.net.final_layer.linear.bias",
]
DIFF_MAPS = [2, 5, 7, 10, 25, 40, 50, 60, 100, 250, 999, 1000]


def diffusion_config() -> CALMConfig:
    return CALMConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=0, num_attention_heads=2, num_key_value_heads=2,
        patch_size=4, latent_size=8, noise_size=8, num_mlp_layers=2, num_samples=2, beta=1.0,
    )


def build_diffusion(out_root: str) -> None:
    rel = f"{HEAD_DIR}/diffusion-tiny.safetensors"
    REPORT.log(f"[{rel}]")
    cfg = diffusion_config()
    seed = 600
    wrapper = nn.Module()
    wrapper.generative_head = DiffusionHead(cfg)
    wrapper.fixed_sigma = nn.Module()
    wrapper.fixed_sigma.generative_head = DiffusionHead(cfg, learn_sigma=False)
    randomize_(wrapper, seed)
    g = rng(seed + 1)
    h, lat, b, n = cfg.hidden_size, cfg.latent_size, 3, cfg.num_samples
    # the network on rows with given original timesteps
    x = randn(g, 6, lat)
    timesteps = torch.tensor([0, 1, 250, 500, 998, 999], dtype=torch.long)
    cond = randn(g, 6, h)
    # p_mean_variance of the 100-step sampler at respaced steps (network at timestep_map[k])
    pmv_x = randn(g, 6, lat)
    pmv_steps = torch.tensor([99, 98, 50, 10, 1, 0], dtype=torch.long)
    # head-level loss: B hidden states, N replicas, posterior targets, injected t and eps
    hidden = randn(g, b, h)
    t_mean = 1.5 * randn(g, b, lat)
    t_log_std = -1.0 + 0.3 * randn(g, b, lat)
    t_eps = randn(g, b, n, lat)
    loss_t = torch.tensor([[0, 999], [0, 1], [500, 137]], dtype=torch.long)
    loss_eps = randn(g, b, n, lat)
    # sampling: 100 respaced steps (official), and 5 steps at temperature 1 and 0.5
    s_xT = randn(g, b, n, lat)
    s_steps = randn(g, 99, b, n, lat)
    s5_xT = randn(g, b, n, lat)
    s5_steps = randn(g, 4, b, n, lat)

    fixed = weights(wrapper)
    for k_, v in (
        ("input.x", x), ("input.timesteps", timesteps), ("input.cond", cond), ("input.pmv_x", pmv_x), ("input.pmv_steps", pmv_steps),
        ("input.hidden", hidden), ("input.target_mean", t_mean), ("input.target_log_std", t_log_std), ("noise.target_eps", t_eps),
        ("noise.timesteps", loss_t), ("noise.eps", loss_eps), ("noise.sample_x_T", s_xT), ("noise.sample_steps", s_steps),
        ("noise.sample5_x_T", s5_xT), ("noise.sample5_steps", s5_steps),
    ):
        fixed[k_] = v

    train, gen, gen5 = make_schedule(1000), make_schedule(1000, 100), make_schedule(1000, 5)
    tables: Dict[str, torch.Tensor] = OrderedDict()
    for tag, sched in (("train", train), ("gen", gen)):
        tables[f"expected.{tag}.timestep_map"] = torch.tensor(sched.timestep_map, dtype=torch.long)
        for name in DiffusionSchedule.TABLES:
            tables[f"expected.{tag}.{name}"] = torch.from_numpy(getattr(sched, name))
    for count in DIFF_MAPS:
        tables[f"expected.timestep_map_{count}"] = torch.tensor(make_schedule(1000, count).timestep_map, dtype=torch.long)
    linear = make_schedule(1000, None, "linear")
    tables["expected.linear.betas"] = torch.from_numpy(linear.betas)
    tables["expected.linear.alphas_cumprod"] = torch.from_numpy(linear.alphas_cumprod)
    REPORT.log(f"  100-step map starts {gen.timestep_map[:8]}, ends {gen.timestep_map[-3:]}; 5-step map {gen5.timestep_map}")

    x_start_all = t_mean[:, None, :] + torch.exp(t_log_std)[:, None, :] * t_eps
    at0 = x_start_all[loss_t == 0]
    regions = ((at0 < -0.999).sum().item(), ((at0 >= -0.999) & (at0 <= 0.999)).sum().item(), (at0 > 0.999).sum().item())
    assert min(regions) > 0, regions
    REPORT.log(f"  t = 0 rows: x_start below -0.999 / inside / above 0.999: {regions}")

    def compute(dtype: torch.dtype) -> Dict[str, torch.Tensor]:
        m = copy.deepcopy(wrapper).to(dtype)
        head, fixed_head = m.generative_head, m.fixed_sigma.generative_head
        out: Dict[str, torch.Tensor] = OrderedDict()
        with torch.no_grad():
            out["expected.t_embedding"] = timestep_embedding(timesteps, 256)
            out["expected.model_output"] = head.net(x.to(dtype), timesteps, cond.to(dtype))
            out["expected.fixed_sigma.model_output"] = fixed_head.net(x.to(dtype), timesteps, cond.to(dtype))
            mo = head.net(pmv_x.to(dtype), torch.tensor([gen.timestep_map[k] for k in pmv_steps.tolist()]), cond.to(dtype))
            pmv = head.p_mean_variance(gen, mo, pmv_x.to(dtype), pmv_steps)
            out["expected.pmv_model_output"] = mo
            out["expected.pmv_mean"] = pmv.mean
            out["expected.pmv_log_variance"] = pmv.log_variance
            out["expected.pmv_pred_xstart"] = pmv.pred_xstart
            hid_rows = hidden.to(dtype)[:, None, :].expand(b, n, h).reshape(b * n, h)
            out["expected.sample"] = head.sample(hid_rows, s_xT.to(dtype).reshape(b * n, lat), s_steps.to(dtype).reshape(99, b * n, lat)).reshape(b, n, lat)
            for temp, tag in ((1.0, "sample5"), (0.5, "sample5_t0_5")):
                out[f"expected.{tag}"] = head.sample(hid_rows, s5_xT.to(dtype).reshape(b * n, lat), s5_steps.to(dtype).reshape(4, b * n, lat), 5, temp).reshape(b, n, lat)
            out["expected.fixed_sigma.sample5"] = fixed_head.sample(hid_rows, s5_xT.to(dtype).reshape(b * n, lat), s5_steps.to(dtype).reshape(4, b * n, lat), 5).reshape(b, n, lat)
        hid = hidden.to(dtype).clone().requires_grad_(True)

        def head_loss(hd: DiffusionHead, hv: torch.Tensor, vb_eps: torch.Tensor | None = None):
            x_start = (t_mean.to(dtype)[:, None, :] + torch.exp(t_log_std.to(dtype))[:, None, :] * t_eps.to(dtype)).reshape(b * n, lat)
            rows = hv[:, None, :].expand(b, n, h).reshape(b * n, h)
            return hd.loss_parts(rows, x_start, loss_t.reshape(-1), loss_eps.to(dtype).reshape(b * n, lat), vb_eps), x_start

        parts, x_start = head_loss(head, hid)
        loss = parts.loss.mean()
        loss.backward()
        out["expected.x_start"] = x_start.reshape(b, n, lat)
        out["expected.x_t"] = parts.x_t.reshape(b, n, lat)
        out["expected.mse"] = parts.mse.reshape(b, n)
        out["expected.vb"] = parts.vb.reshape(b, n)
        out["expected.loss_rows"] = parts.loss.reshape(b, n)
        out["expected.loss"] = loss
        params = dict(m.named_parameters())
        for name in DIFF_GRADS:
            out["grad." + name] = params[name].grad
        out["grad.input.hidden"] = hid.grad
        fparts, _ = head_loss(fixed_head, hidden.to(dtype))
        floss = fparts.loss.mean()
        floss.backward()
        out["expected.fixed_sigma.loss"] = floss
        fname = "fixed_sigma.generative_head.net.final_layer.linear.weight"
        out["grad." + fname] = params[fname].grad
        if dtype == torch.float64:
            # the t = 0 decoder NLL: how many of its bins hit the 1e-12 probability clamp
            with torch.no_grad():
                t0 = (loss_t.reshape(-1) == 0)
                mo0 = head.net(parts.x_t[t0], loss_t.reshape(-1)[t0], hid.detach()[:, None, :].expand(b, n, h).reshape(b * n, h)[t0])
                pmv0 = head.p_mean_variance(train, mo0, parts.x_t[t0], loss_t.reshape(-1)[t0])
                ll = discretized_gaussian_log_likelihood(x_start[t0], pmv0.mean, 0.5 * pmv0.log_variance)
                clamped = int((ll <= math.log(1e-12) + 1e-9).sum())
                assert clamped == 0, f"{clamped} decoder-NLL bins at the 1e-12 clamp: the t = 0 gradients would be 0 there"
                REPORT.log(f"  t = 0 decoder NLL: none of its {ll.numel()} bins at the 1e-12 clamp")
            # autograd leaves out the VLB's dependence on ε (detached officially): hold that ε fixed
            eps0 = parts.model_output[:, :lat].detach()
            loss_fn = lambda: head_loss(head, hid, eps0)[0].loss.mean()  # noqa: E731
            worst = max(fd_check(loss_fn, params[x_], params[x_].grad, x_, rng(seed + 2)) for x_ in DIFF_GRADS)
            REPORT.log(f"  finite-difference vs autograd (fp64), worst rel err: {worst:.1e}")
            REPORT.log(f"  max |sample| (100 steps): {out['expected.sample'].abs().max().item():.3g}; 5 steps: {out['expected.sample5'].abs().max().item():.3g}")
        return out

    out = run_both(compute, rel)
    config = {
        "fixture": "diffusion-head (official models/modeling_diffusion.py DiffLoss + models/diffusion/*, commit c556310)",
        "calm": dataclasses.asdict(cfg),
        "net": "SimpleMLPAdaLN(in=latent, model_channels=hidden, out=2*latent (learned variance) or latent (fixed_sigma.*), z_channels=hidden, num_res_blocks=num_mlp_layers), frequency_embedding_size 256; the integer timestep is embedded unscaled",
        "diffusion": "create_diffusion: cosine schedule (alpha_bar(t)=cos((t+0.008)/1.008*pi/2)^2, betas capped at 0.999), 1000 steps, epsilon prediction, LEARNED_RANGE variance (fixed_sigma.*: FIXED_LARGE), loss MSE + VLB (fixed_sigma.*: MSE only); training diffusion = all 1000 steps re-derived through SpacedDiffusion; sampling respaced with space_timesteps(1000, [S])",
        "tables": "expected.{train,gen}.* = the GaussianDiffusion tables in float64 rounded to float32 (gen = 100 respaced steps); expected.timestep_map_S for S in " + str(DIFF_MAPS) + "; expected.linear.* the linear schedule",
        "net_inputs": "input.x [6,l], input.timesteps [6] original timesteps, input.cond [6,H] -> expected.t_embedding [6,256] (float32 as officially), expected.model_output [6,2l] (first l = eps, last l = v)",
        "pmv": "p_mean_variance of the 100-step sampler at respaced steps input.pmv_steps on input.pmv_x with input.cond; the net is called with gen.timestep_map[k]; frac=(v+1)/2, log_var=frac*log(beta_k)+(1-frac)*posterior_log_variance_clipped_k; pred_xstart=sqrt(1/acp)x-sqrt(1/acp-1)eps; mean=coef1*pred_xstart+coef2*x",
        "loss": "x_start=target_mean[b]+exp(target_log_std[b])*target_eps[b,n] (rows b*N+n); x_t=sqrt(acp_t)x_start+sqrt(1-acp_t)eps; mse=mean_l (eps-eps_pred)^2; vb: eps_pred detached, KL(q(x_{t-1}|x_t,x_0)||p) mean_l / ln 2, at t=0 the discretized-Gaussian decoder NLL (bins 1/255, end bins beyond +-0.999, probabilities clamped at 1e-12) mean_l / ln 2; loss=mean over rows of mse+vb",
        "grad.*": "gradients of expected.loss; grad.fixed_sigma.* of expected.fixed_sigma.loss",
        "sampler": "x=noise.*x_T; for k=S-1..0: out=net(x, timestep_map[k], hidden); x=mean+exp(log_var/2)*z*temperature for k>0, x=mean at k=0; noise.*steps[j] is z of the j-th step (k=S-1-j); expected.sample: S=100, T=1; expected.sample5: S=5; expected.sample5_t0_5: S=5, temperature 0.5; samples [b, n] use hidden row b",
        "batch": b,
        "N": n,
        "seed": seed,
    }
    write_fixture(out_root, rel, OrderedDict(list(fixed.items()) + list(tables.items()) + list(out.items())), config)


# --------------------------------------------------------------------------------------------
# CALM LM fixtures
# --------------------------------------------------------------------------------------------

CALM_GRADS = [
    "transformer.embed_tokens.weight",
    "transformer.layers.0.self_attn.q_proj.weight",
    "transformer.layers.0.self_attn.k_proj.weight",
    "transformer.layers.1.mlp.down_proj.weight",
    "transformer.norm.weight",
    "mlp_generator.final_layer.linears.2.bias",
    "embed_proj.0.weight",
    "embed_proj.3.bias",
]

CALM_SPECIAL = {"bos_token_id": 77, "eos_token_id": 78, "pad_token_id": 79}


def calm_configs(kv_heads: int) -> Tuple[CALMConfig, AEConfig]:
    ae = AEConfig(vocab_size=80, hidden_size=32, intermediate_size=48, latent_size=8, patch_size=4)
    lm = CALMConfig(
        vocab_size=80, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=kv_heads,
        pad_token_id=CALM_SPECIAL["pad_token_id"], patch_size=4, latent_size=8, noise_size=8, num_mlp_layers=2, num_samples=4, beta=1.0,
        num_target_samples=6,
    )
    return lm, ae


def build_calm(out_root: str, rel: str, kv_heads: int, seed: int) -> EnergyTransformer:
    REPORT.log(f"[{rel}]")
    cfg, ae_cfg = calm_configs(kv_heads)
    model = EnergyTransformer(cfg, ae_cfg)
    randomize_(model, seed)
    g = rng(seed + 1)
    bos, eos, pad = CALM_SPECIAL["bos_token_id"], CALM_SPECIAL["eos_token_id"], CALM_SPECIAL["pad_token_id"]
    b, k, h, lat = 2, cfg.patch_size, cfg.hidden_size, cfg.latent_size
    n, m_t = cfg.num_samples, cfg.num_target_samples
    hd = h // cfg.num_attention_heads
    s_bb = 5
    inputs_embeds = randn(g, b, s_bb, h)
    n_chunks = 6
    ids = torch.randint(0, bos, (b, n_chunks * k), generator=g)
    ids[:, 0] = bos
    ids[0, 13] = eos
    ids[1, 5] = pad  # PAD embeds to the zero row (and that row gets no gradient)
    head_noise = uniform(g, b, n_chunks - 1, n, cfg.noise_size)
    target_eps = randn(g, b, n_chunks - 1, m_t, lat)
    gen_ids = torch.randint(0, bos, (b, 3 * k), generator=g)
    gen_ids[:, 0] = bos
    gen_ids[0, 10:] = pad  # a 10-token prompt right-padded with PAD to a multiple of K (official quirk)
    gen_noise = uniform(g, b, cfg.noise_size)

    fixed = weights(model)
    fixed["input.inputs_embeds"] = inputs_embeds
    fixed["input.ids"] = ids
    fixed["noise.head_uniform"] = head_noise
    fixed["noise.target_eps"] = target_eps
    fixed["input.gen_ids"] = gen_ids
    fixed["noise.gen_uniform"] = gen_noise

    def compute(dtype: torch.dtype) -> Dict[str, torch.Tensor]:
        m = copy.deepcopy(model).to(dtype)
        out: Dict[str, torch.Tensor] = OrderedDict()
        with torch.no_grad():
            cos, sin = rope_cos_sin(torch.arange(s_bb), hd, cfg.rope_theta, dtype)
            out["expected.rope_cos"] = cos
            out["expected.rope_sin"] = sin
            ie = inputs_embeds.to(dtype)
            layer0, _ = m.transformer.layers[0](ie, cos, sin, None)
            out["expected.backbone_layer0"] = layer0
            hid, _ = m.transformer(inputs_embeds=ie)
            out["expected.backbone_hidden"] = hid
            if dtype == torch.float64:
                diff = (naive_backbone(m.transformer, ie) - hid).abs().max().item()
                assert diff < 1e-12, f"loop-level backbone differs by {diff}"
                REPORT.log(f"  loop-level backbone re-statement vs reference: max |diff| {diff:.1e}")
            out["expected.compressed_all"] = m.compress(ids)
        parts = m.training_loss(ids, head_noise.to(dtype), target_eps.to(dtype))
        parts.loss.backward()
        out["expected.target_mean"] = parts.target_mean
        out["expected.target_log_std"] = parts.target_log_std
        out["expected.targets"] = parts.targets
        out["expected.compressed"] = parts.compressed
        out["expected.hidden"] = parts.hidden
        out["expected.samples"] = parts.samples
        out["expected.fidelity"] = parts.energy.fidelity
        out["expected.diversity"] = parts.energy.diversity
        out["expected.loss"] = parts.loss
        if dtype == torch.float64:
            p_n = parts.samples.shape[0] * parts.samples.shape[1]
            naive = naive_energy_loss(parts.samples.detach().reshape(p_n, n, lat), parts.targets.reshape(p_n, m_t, lat), cfg.beta)
            assert abs(naive - parts.loss.item()) < 1e-12, (naive, parts.loss.item())
        params = dict(m.named_parameters())
        for name in CALM_GRADS:
            out["grad." + name] = params[name].grad
        assert all(p.grad is None for p in m.ae_model.parameters()), "the AE must stay frozen"
        assert torch.all(params["transformer.embed_tokens.weight"].grad[pad] == 0)
        if dtype == torch.float64:
            loss_fn = lambda: m.training_loss(ids, head_noise.to(dtype), target_eps.to(dtype)).loss  # noqa: E731
            worst = max(fd_check(loss_fn, params[x], params[x].grad, x, rng(seed + 2), skip_row=pad if x == "transformer.embed_tokens.weight" else None) for x in CALM_GRADS)
            REPORT.log(f"  finite-difference vs autograd (fp64), worst rel err: {worst:.1e}")
        # one generation step with the KV cache (temperature 1: a single head draw, argmax decode)
        with torch.no_grad():
            u = m.compress(gen_ids)
            hp, cache = m.transformer(inputs_embeds=u)
            out["expected.gen_prefix_hidden"] = hp
            z = m.mlp_generator(hp[:, -1], gen_noise.to(dtype))
            out["expected.gen_latent"] = z
            logits = m.ae_model.decode(z[:, None, :])
            out["expected.gen_logits"] = logits
            nxt = logits.argmax(-1)
            out["expected.gen_next_ids"] = nxt
            u2 = m.compress(nxt)
            hs, _ = m.transformer(inputs_embeds=u2, past_key_values=cache)
            out["expected.gen_hidden_step"] = hs
            hf, _ = m.transformer(inputs_embeds=torch.cat([u, u2], dim=1))
            out["expected.gen_hidden_full"] = hf
            diff = (hs - hf[:, -1:]).abs().max().item()
            tol = 1e-12 if dtype == torch.float64 else 1e-5
            assert diff < tol, f"KV-cache step differs from the full forward by {diff}"
            REPORT.log(f"  KV-cache step vs full forward ({dtype}): max |diff| {diff:.1e}")
            if dtype == torch.float64:
                check_margin(logits, "generation argmax")
        return out

    out = run_both(compute, rel)
    config = {
        "fixture": "calm-lm",
        "calm": dataclasses.asdict(cfg),
        "ae": dataclasses.asdict(ae_cfg),
        "special_tokens": CALM_SPECIAL,
        "head_dim": hd,
        "N": n,
        "M": m_t,
        "seed": seed,
        "weights": "fixture init (not official): Linear weight std 1/sqrt(fan_in), biases std 0.1, norm weights 1 + std 0.1, embeddings std 0.5, PAD row of transformer.embed_tokens = 0; aliases (generative_head.*, ae_model.decoder.lm_head_weight) omitted",
        "backbone": "input.inputs_embeds [B,5,H] at positions 0..4 -> expected.backbone_layer0 (residual stream after layer 0), expected.backbone_hidden (after final norm)",
        "loss": "input.ids [B, L*K], L=6: inputs chunks 0..L-2, targets chunks 1..L-1; noise.head_uniform [B,L-1,N,noise] (sample n at position t uses hidden[b,t]); noise.target_eps [B,L-1,M,l]; targets = mean + exp(log_std)*eps; energy over P=B*(L-1) positions (row-major b,t), alpha=beta",
        "grad.*": "gradients of expected.loss; the AE is frozen (no grads)",
        "generation": "u=compress(input.gen_ids) [B,3,H]; h=backbone(u) -> expected.gen_prefix_hidden; z=head(h[:,-1], noise.gen_uniform); logits=ae.decode(z[:,None]) [B,K,V]; next=argmax; one cached step on compress(next) at position 3 -> expected.gen_hidden_step == expected.gen_hidden_full[:, 3:4]",
    }
    write_fixture(out_root, rel, OrderedDict(list(fixed.items()) + list(out.items())), config)
    return model


AR_GRADS = ["model.embed_tokens.weight", "model.layers.0.self_attn.v_proj.weight", "model.layers.1.mlp.up_proj.weight", "lm_head.weight"]


def build_ar(out_root: str) -> None:
    rel = f"{TRAINER_DIR}/ar-tiny.safetensors"
    REPORT.log(f"[{rel}]")
    special = {"bos_token_id": 93, "eos_token_id": 94, "pad_token_id": 95}
    cfg = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, pad_token_id=special["pad_token_id"])
    seed = 500
    model = LlamaForCausalLM(cfg)
    randomize_(model, seed)
    g = rng(seed + 1)
    b, t = 2, 10
    ids = torch.randint(0, special["bos_token_id"], (b, t), generator=g)
    ids[:, 0] = special["bos_token_id"]
    fixed = weights(model)
    fixed["input.ids"] = ids

    def compute(dtype: torch.dtype) -> Dict[str, torch.Tensor]:
        m = copy.deepcopy(model).to(dtype)
        out: Dict[str, torch.Tensor] = OrderedDict()
        with torch.no_grad():
            logits, _ = m(ids)
            out["expected.logits"] = logits
            _, cache = m(ids[:, :-1])
            step, _ = m(ids[:, -1:], past_key_values=cache)
            out["expected.step_logits"] = step
            diff = (step - logits[:, -1:]).abs().max().item()
            assert diff < (1e-12 if dtype == torch.float64 else 1e-5), diff
            REPORT.log(f"  KV-cache step vs full forward ({dtype}): max |diff| {diff:.1e}")
        loss = m.loss(ids)
        loss.backward()
        out["expected.loss"] = loss
        params = dict(m.named_parameters())
        for name in AR_GRADS:
            out["grad." + name] = params[name].grad
        if dtype == torch.float64:
            worst = max(fd_check(lambda: m.loss(ids), params[x], params[x].grad, x, rng(seed + 2)) for x in AR_GRADS)
            REPORT.log(f"  finite-difference vs autograd (fp64), worst rel err: {worst:.1e}")
        return out

    out = run_both(compute, rel)
    config = {
        "fixture": "ar-llama",
        "llama": dataclasses.asdict(cfg),
        "special_tokens": special,
        "seed": seed,
        "weights": "fixture init (not official); untied lm_head",
        "loss": "HF causal LM: mean CE of logits[:, :-1] vs input.ids[:, 1:]",
        "step": "expected.step_logits = logits of the last token computed with a KV cache of the first T-1 tokens",
    }
    write_fixture(out_root, rel, OrderedDict(list(fixed.items()) + list(out.items())), config)


# --------------------------------------------------------------------------------------------
# A tiny "official checkpoint" layout (HF save_pretrained with safe_serialization=False)
# --------------------------------------------------------------------------------------------


def write_json(path: str, obj: Dict[str, object]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def write_tiny_official(out_root: str, model: EnergyTransformer) -> None:
    REPORT.log("[tiny-official]")
    cfg, ae_cfg = model.cfg, model.ae_model.cfg
    base = os.path.join(out_root, TRAINER_DIR, "tiny-official")
    ae_conf = {
        "architectures": ["Autoencoder"],
        "ae_dropout": ae_cfg.ae_dropout,
        "kl_clamp": ae_cfg.kl_clamp,
        "kl_weight": ae_cfg.kl_weight,
        "patch_size": ae_cfg.patch_size,
        "vocab_size": ae_cfg.vocab_size,
        "hidden_size": ae_cfg.hidden_size,
        "intermediate_size": ae_cfg.intermediate_size,
        "num_encoder_layers": ae_cfg.num_encoder_layers,
        "num_decoder_layers": ae_cfg.num_decoder_layers,
        "latent_size": ae_cfg.latent_size,
        "hidden_act": "silu",
        "max_position_embeddings": 2048,
        "initializer_range": 0.02,
        "rms_norm_eps": ae_cfg.rms_norm_eps,
        "pretraining_tp": 1,
        "tie_word_embeddings": False,
        "mlp_bias": False,
        "torch_dtype": "float32",
        "transformers_version": "4.43.0",
        **CALM_SPECIAL,
    }
    lm_conf = {
        "architectures": ["EnergyTransformer"],
        "ae_path": "/mnt/share/calm/autoencoder",
        "model_type": "",
        "patch_size": cfg.patch_size,
        "num_mlp_layers": cfg.num_mlp_layers,
        "num_samples": cfg.num_samples,
        "beta": cfg.beta,
        "noise_size": cfg.noise_size,
        "latent_size": cfg.latent_size,
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "hidden_act": "silu",
        "max_position_embeddings": 2048,
        "initializer_range": 0.02,
        "rms_norm_eps": cfg.rms_norm_eps,
        "use_cache": True,
        "pretraining_tp": 1,
        "tie_word_embeddings": False,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "torch_dtype": "float32",
        "transformers_version": "4.43.0",
        **CALM_SPECIAL,
    }
    write_json(os.path.join(base, "CALM-Autoencoder", "config.json"), ae_conf)
    write_json(os.path.join(base, "CALM-M", "config.json"), lm_conf)
    # HF save_pretrained(.., safe_serialization=False) writes a plain dict (not the OrderedDict
    # with _metadata) of the full state_dict, aliases included, with torch.save.
    ae_sd = dict(model.ae_model.state_dict())
    lm_sd = dict(model.state_dict())
    for key in ("ae_model.decoder.lm_head_weight", "generative_head.noise_embd.weight", "embed_proj.0.weight"):
        assert key in lm_sd, key
    torch_save(ae_sd, os.path.join(base, "CALM-Autoencoder", "pytorch_model.bin"))
    torch_save(lm_sd, os.path.join(base, "CALM-M", "pytorch_model.bin"))
    back = torch.load(os.path.join(base, "CALM-M", "pytorch_model.bin"))
    assert list(back) == list(lm_sd)
    REPORT.log(f"  wrote tiny-official/CALM-Autoencoder ({len(ae_sd)} keys) and tiny-official/CALM-M ({len(lm_sd)} keys)")


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

OUTPUT_DIRS = [AE_DIR, HEAD_DIR, TRAINER_DIR]


def build_all(out_root: str) -> None:
    ae_cfg = AEConfig(vocab_size=96, hidden_size=32, intermediate_size=48, latent_size=8, patch_size=4)
    ae = build_ae(out_root, f"{AE_DIR}/ae-tiny.safetensors", ae_cfg, seed=100, batch=2, seq=16)
    write_ae_statedicts(out_root, ae, ae_cfg)
    ae2_cfg = AEConfig(vocab_size=64, hidden_size=32, intermediate_size=48, latent_size=8, patch_size=2)
    build_ae(out_root, f"{AE_DIR}/ae-tiny-k2.safetensors", ae2_cfg, seed=110, batch=2, seq=12)
    write_hostile(out_root)
    build_head(out_root)
    build_flow(out_root)
    build_diffusion(out_root)
    calm = build_calm(out_root, f"{TRAINER_DIR}/calm-tiny.safetensors", kv_heads=4, seed=400)
    build_calm(out_root, f"{TRAINER_DIR}/calm-tiny-gqa.safetensors", kv_heads=2, seed=410)
    write_tiny_official(out_root, calm)
    build_ar(out_root)


def file_digests(root: str) -> Dict[str, str]:
    out = {}
    for d in OUTPUT_DIRS:
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for f in files:
                p = os.path.join(dirpath, f)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return dict(sorted(out.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="build into a temporary folder and compare with the files in the repository")
    ap.add_argument("--out", default=REPO, help="root to write under (default: the repository root)")
    args = ap.parse_args()
    if not args.check:
        for d in OUTPUT_DIRS:  # start clean so stale files cannot linger
            shutil.rmtree(os.path.join(args.out, d), ignore_errors=True)
        build_all(args.out)
        digests = file_digests(args.out)
        total = 0
        for rel, digest in digests.items():
            size = os.path.getsize(os.path.join(args.out, rel))
            total += size
            print(f"{digest[:16]}  {size:>9}  {rel}")
        print(f"total {total} bytes in {len(digests)} files")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build_all(tmp)
        new, old = file_digests(tmp), file_digests(args.out)
    if new != old:
        for k in sorted(set(new) | set(old)):
            if new.get(k) != old.get(k):
                print(f"DIFFERS: {k}")
        return 1
    print(f"OK: {len(new)} fixture files are byte-identical to a fresh build")
    return 0


if __name__ == "__main__":
    sys.exit(main())
