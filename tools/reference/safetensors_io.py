"""A tiny pure-Python safetensors writer and reader (no `safetensors` package needed) for the parity
fixtures: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}
plus "__metadata__" (string map), padded with spaces to a multiple of 8, then contiguous raw data
in header order."""

from __future__ import annotations

import json
import struct
from typing import Dict, Mapping, Tuple

import numpy as np
import torch

_TORCH_TO_ST = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.uint8: "U8",
}
_ST_TO_NUMPY = {"F32": "<f4", "F64": "<f8", "F16": "<u2", "BF16": "<u2", "I32": "<i4", "I64": "<i8", "U8": "u1"}


def tensor_bytes(t: torch.Tensor) -> Tuple[str, bytes]:
    """(safetensors dtype, little-endian row-major bytes) of a CPU tensor."""
    t = t.detach().cpu().contiguous()
    dtype = _TORCH_TO_ST.get(t.dtype)
    if dtype is None:
        raise TypeError(f"unsupported dtype {t.dtype}")
    if dtype in ("F16", "BF16"):
        arr = t.view(torch.int16).numpy().view(np.uint16)
    else:
        arr = t.numpy()
    return dtype, arr.astype(_ST_TO_NUMPY[dtype], copy=False).tobytes()


def serialize(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    header: Dict[str, object] = {}
    if metadata:
        if not all(isinstance(v, str) for v in metadata.values()):
            raise TypeError("__metadata__ values must be strings")
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError('"__metadata__" is reserved')
        dtype, raw = tensor_bytes(t)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write_file(path: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> int:
    data = serialize(tensors, metadata)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def read_file(path: str) -> Tuple[Dict[str, str], Dict[str, torch.Tensor]]:
    """Reads a file written by `write_file` (or any safetensors file with the dtypes above)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    body = data[8 + n :]
    out: Dict[str, torch.Tensor] = {}
    cursor = 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = e["data_offsets"]
        if begin != cursor:
            raise ValueError(f"{path}: non-contiguous data at {name}")
        cursor = end
        arr = np.frombuffer(body[begin:end], dtype=_ST_TO_NUMPY[e["dtype"]]).reshape(e["shape"])
        if e["dtype"] == "BF16":
            t = torch.from_numpy(arr.view(np.int16).copy()).view(torch.bfloat16)
        elif e["dtype"] == "F16":
            t = torch.from_numpy(arr.view(np.int16).copy()).view(torch.float16)
        else:
            t = torch.from_numpy(arr.copy())
        out[name] = t
    if cursor != len(body):
        raise ValueError(f"{path}: trailing bytes in the data section")
    return metadata, {k: out[k] for k in header}
