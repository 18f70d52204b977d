"""A plain forward for the common LoRA/LoCon module: org(x) + up(down(x)) * scale * multiplier.

lycoris' LoConModule forward multiplies by its `scalar` buffer (1.0 unless use_scalar) on every call, and on a
GPU picks per call between fused triton/tilelang kernels and torch.compile'd ones. Per step that is one more
multiply per layer forward and backward than peft's LoRA layer, and per-call kernel choices we do not control.
Here the same math as peft (and sd-scripts' networks/lora.py): two plain module calls, one scale. Modules with
options this does not cover (use_scalar, rank/module dropout, Tucker, DoRA, full-weight mode) keep lycoris'
forward."""
from __future__ import annotations

import types

import torch


def _eligible(m) -> bool:
    from lycoris.modules.locon import LoConModule

    return (type(m) is LoConModule and m.bypass_mode and not m.tucker and not m.wd and not m.rank_dropout
            and not m.module_dropout and not isinstance(m.scalar, torch.nn.Parameter)
            and not getattr(m, "not_supported", False))


def _lean_forward(self, x, *args, **kwargs):
    w = self.lora_down.weight
    if x.dtype != w.dtype and not torch.is_autocast_enabled(x.device.type):
        return self._lycoris_forward(x, *args, **kwargs)  # e.g. a bf16 activation into fp32 LoRA weights
    return self.org_forward(x) + self.dropout(self.lora_up(self.lora_down(x))) * (self.scale * self.multiplier)


def use_lean_forward(net) -> int:
    """Give each eligible module of a lycoris network (after apply_to) the plain forward; -> how many."""
    n = 0
    for m in net.loras:
        org = m.org_module[0]
        if not _eligible(m) or org.forward != m.forward:  # another wrapper sits on top: leave it alone
            continue
        m._lycoris_forward = m.forward
        m.forward = types.MethodType(_lean_forward, m)
        org.forward = m.forward
        n += 1
    return n
