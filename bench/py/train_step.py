"""PyTorch side of bench/src/train-vs-pytorch.ts: the same model, weights and batch as the
project's, trained with the official recipe's optimiser step.

The model comes from tools/reference/calm_reference.py (the project's PyTorch reference of the
official modules); the initial weights, configs and optimiser settings from a safetensors file the
TypeScript side writes (official parameter names, settings in the metadata key "bench"); the batch
(and, for the check, the injected noise) from a second safetensors file.

  check: loss and global gradient norm on the batch with the injected noise -> one JSON line.
  time:  warm-up steps, then --reps repetitions of --steps timed training steps, each with fresh
         random noise: forward, backward, clip_grad_norm_, torch.optim.AdamW. Prints JSON lines:
         {"event": "ready", ...}, one {"event": "rep", ...} per repetition, {"event": "done", ...}.
         With --interleave each repetition waits for a line on stdin (the caller alternates with
         its own repetitions); EOF or "quit" ends the run early.

Run with Debian's /usr/bin/python3 (python3-torch). Which BLAS torch uses is the caller's choice
(LD_LIBRARY_PATH, OPENBLAS_CORETYPE, OMP_NUM_THREADS for this process only); every JSON line
carries what was actually loaded.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import re
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "reference"))
from calm_reference import AEConfig, Autoencoder, CALMConfig, EnergyTransformer, LlamaConfig, LlamaForCausalLM  # noqa: E402
from safetensors_io import read_file  # noqa: E402


def runtime_info() -> dict:
    """Torch version, threads, and the BLAS that is really mapped into this process."""
    libs = []
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if ("blas" in name or "lapack" in name) and path not in libs:
                libs.append(path)
    openblas = {}
    for path in libs:
        if "openblas" not in os.path.basename(path):
            continue
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            openblas = {
                "library": os.path.realpath(path),
                "corename": lib.openblas_get_corename().decode(),
                "config": lib.openblas_get_config().decode(),
                "threads": lib.openblas_get_num_threads(),
            }
            break
        except (OSError, AttributeError):
            continue
    show = torch.__config__.show()
    # torch.__config__.show(): the "LAPACK is enabled" line and BLAS_INFO / LAPACK_INFO / USE_OPENMP
    # of the build settings (the rest of that line is compiler flags).
    blas_lines = [s.strip() for s in show.splitlines() if "LAPACK is" in s or "BLAS is" in s]
    blas_lines += re.findall(r"\b(?:BLAS_INFO|LAPACK_INFO|USE_OPENMP|USE_MKLDNN)=[^,\s]*", show)
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interopThreads": torch.get_num_interop_threads(),
        "mappedBlasLibraries": libs,
        "openblas": openblas or None,
        "configShowBlas": blas_lines,
        "env": {k: os.environ.get(k) for k in ("LD_LIBRARY_PATH", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }


class Job:
    """The model of one bench row, its loss with injected noise, and fresh noise for timing."""

    def __init__(self, weights_path: str, batch_path: str) -> None:
        meta, weights = read_file(weights_path)
        self.meta = json.loads(meta["bench"])
        _, batch = read_file(batch_path)
        self.batch = batch
        self.ids = batch["input.ids"].long()
        self.kind = self.meta["model"]
        torch.manual_seed(int(self.meta.get("seed", 0)))
        if self.kind == "ae":
            self.ae_cfg = AEConfig(**self.meta["ae"])
            self.model = Autoencoder(self.ae_cfg)
        elif self.kind == "calm":
            self.ae_cfg = AEConfig(**self.meta["ae"])
            self.cfg = CALMConfig(**self.meta["lm"])
            self.model = EnergyTransformer(self.cfg, self.ae_cfg)
        elif self.kind == "ar":
            self.cfg = LlamaConfig(**self.meta["lm"])
            self.model = LlamaForCausalLM(self.cfg)
        else:
            raise ValueError(f"unknown model kind {self.kind!r}")
        # named_parameters() lists each tensor once under its first (official) name, so the
        # aliases decoder.lm_head_weight and generative_head.* are skipped, as in the file.
        own = dict(self.model.named_parameters())
        if set(own) != set(weights):
            raise ValueError(f"weights do not match the model: missing {sorted(set(own) - set(weights))[:5]}, unexpected {sorted(set(weights) - set(own))[:5]}")
        with torch.no_grad():
            for name, p in own.items():
                if tuple(p.shape) != tuple(weights[name].shape):
                    raise ValueError(f"{name}: file {tuple(weights[name].shape)} vs model {tuple(p.shape)}")
                p.copy_(weights[name])
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        b, t = self.ids.shape
        self.tokens = b * t

    def loss(self, noise: dict) -> torch.Tensor:
        if self.kind == "ae":
            return self.model.training_loss(self.ids, noise["token_mask"], noise["eps"], noise["latent_keep"]).loss
        if self.kind == "calm":
            return self.model.training_loss(self.ids, noise["head"], noise["target"]).loss
        return self.model.loss(self.ids)

    def injected_noise(self) -> dict:
        return {k[len("noise."):]: v for k, v in self.batch.items() if k.startswith("noise.")}

    def fresh_noise(self) -> dict:
        """The draws of one training step, as the official code makes them."""
        b, t = self.ids.shape
        if self.kind == "ae":
            c = self.ae_cfg
            s = t // c.patch_size
            p = c.ae_dropout
            return {
                "token_mask": torch.rand(b, t) < p,
                "eps": torch.randn(b, s, c.latent_size),
                "latent_keep": (torch.rand(b, s, c.latent_size) >= p).float(),
            }
        if self.kind == "calm":
            c = self.cfg
            n = t // c.patch_size - 1
            return {
                "head": torch.rand(b, n, c.num_samples, c.noise_size) - 0.5,
                "target": torch.randn(b, n, c.num_target_samples, c.latent_size),
            }
        return {}

    def optimizer(self) -> torch.optim.Optimizer:
        o = self.meta["optimizer"]
        decay = set(o["decay"])  # the project's decay predicate, by name (HF rule: no biases, no norms)
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in named if n in decay], "weight_decay": o["weight_decay"]},
            {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def check(job: Job) -> None:
    loss = job.loss(job.injected_noise())
    loss.backward()
    norm = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in job.params if p.grad is not None))
    emit({"event": "check", "loss": float(loss), "gradNorm": norm, "info": runtime_info()})


def train(job: Job, warmup: int, steps: int, reps: int, interleave: bool) -> None:
    opt = job.optimizer()
    max_norm = float(job.meta["optimizer"]["max_grad_norm"])

    def step() -> float:
        noise = job.fresh_noise()
        opt.zero_grad(set_to_none=True)
        loss = job.loss(noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(job.params, max_norm)
        opt.step()
        return float(loss)

    for _ in range(warmup):
        step()
    emit({"event": "ready", "tokensPerStep": job.tokens, "info": runtime_info()})
    all_ms = []
    last = float("nan")
    for r in range(reps):
        if interleave:
            line = sys.stdin.readline()
            if not line or line.strip() == "quit":
                break
        ms = []
        for _ in range(steps):
            t0 = time.perf_counter()
            last = step()
            ms.append((time.perf_counter() - t0) * 1000)
        all_ms += ms
        emit({"event": "rep", "rep": r, "stepMs": ms, "loss": last})
    med = statistics.median(all_ms) if all_ms else float("nan")
    emit({
        "event": "done",
        "steps": len(all_ms),
        "medianStepMs": med,
        "tokensPerSec": job.tokens / (med / 1000) if all_ms else float("nan"),
        "lastLoss": last,
        "info": runtime_info(),
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["check", "time"])
    ap.add_argument("--weights", required=True, help="safetensors with the initial weights and the 'bench' metadata")
    ap.add_argument("--batch", required=True, help="safetensors with input.ids (and noise.* for check)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: OMP_NUM_THREADS or torch's)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--interleave", action="store_true", help="wait for a stdin line before each repetition")
    a = ap.parse_args()
    threads = a.threads or int(os.environ.get("OMP_NUM_THREADS", "0")) or None
    if threads:
        torch.set_num_threads(threads)
    job = Job(a.weights, a.batch)
    if a.mode == "check":
        check(job)
    else:
        train(job, a.warmup, a.steps, a.reps, a.interleave)


if __name__ == "__main__":
    main()
