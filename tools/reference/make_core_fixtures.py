"""Writes the small PyTorch `.bin` fixtures that test @calm/core's safe state-dict reader.

Run: OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 tools/reference/make_core_fixtures.py
(Debian's python3-torch). Output: packages/core/test/fixtures/torch-*.bin and a JSON file with the
expected values, so the TS tests need no Python. Deterministic: re-running gives the same values
(zip timestamps may differ, the data does not).
"""
import collections
import json
import os
import pickle
import zipfile
import io

import torch

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'packages', 'core', 'test', 'fixtures')
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)

base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7.0
sd = collections.OrderedDict()
sd['layer.weight'] = base.clone()
sd['layer.bias'] = torch.tensor([0.5, -1.25, 3.0], dtype=torch.float32)
sd['tied.a'] = sd['layer.weight']                      # the same tensor under two names (tied weights)
sd['view.transposed'] = base.t()                        # non-contiguous: strides (1, 6)
sd['view.offset'] = base.view(-1)[5:11].view(2, 3)      # storage offset 5 in a shared storage
sd['ids'] = torch.tensor([[1, -2], [3, 2 ** 31 - 1]], dtype=torch.int64)
sd['half'] = torch.tensor([1.0, -2.5, 65504.0, 1e-4], dtype=torch.float16)
sd['bf16'] = torch.tensor([1.0, -2.5, 3.140625, 1e30], dtype=torch.bfloat16)
sd['scalar'] = torch.tensor(2.5)
sd['flag'] = torch.tensor([True, False])
sd['param'] = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
sd._metadata = collections.OrderedDict([('', {'version': 1})])
torch.save(sd, os.path.join(OUT, 'torch-state-dict.bin'))

expected = {}
for k, v in sd.items():
    t = v.detach()
    expected[k] = {
        'shape': list(t.shape),
        'dtype': str(t.dtype).replace('torch.', ''),
        'values': [float(x) if t.dtype.is_floating_point else int(x) for x in t.reshape(-1).float().tolist()] if t.dtype not in (torch.int64, torch.bool) else [int(x) for x in t.reshape(-1).tolist()],
    }
with open(os.path.join(OUT, 'torch-state-dict.expected.json'), 'w') as f:
    json.dump(expected, f, indent=1, sort_keys=True)


def zip_with_pickle(name, pkl_bytes):
    """A torch-style zip archive whose data.pkl is the given bytes (never unpickled here)."""
    with zipfile.ZipFile(os.path.join(OUT, name), 'w', compression=zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', pkl_bytes)
        z.writestr('archive/version', '3\n')


class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/calm-pwned',))


# A pickle that asks to call os.system (pickled, never loaded).
zip_with_pickle('torch-malicious-os-system.bin', pickle.dumps(collections.OrderedDict([('w', Evil())]), protocol=2))
# A pickle that references builtins.eval through STACK_GLOBAL (protocol 4).
zip_with_pickle('torch-malicious-eval.bin', pickle.dumps(collections.OrderedDict([('w', eval)]), protocol=4))
# A pickle with the INST opcode, which instantiates arbitrary classes.
zip_with_pickle('torch-malicious-inst.bin', b'(ios\nsystem\nS\'echo pwned\'\no.')
print('wrote fixtures to', os.path.abspath(OUT))
