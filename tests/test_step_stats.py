"""Step losses read without waiting for the GPU, and the weights of the last good step kept when a NaN loss is
only seen a step late (what happens on a GPU: the loss copy's event has not completed yet)."""
import math

import torch

from trainer.run.step_stats import StepLosses, is_host_tensor


class _LateEvent:
    """A CUDA event's part that matters here: not done until the next step has been queued."""

    def __init__(self):
        self.done = False

    def query(self):
        return self.done

    def synchronize(self):
        self.done = True


class _GpuLikeLosses(StepLosses):
    def _event(self):
        return _LateEvent()


def _opt_step(p, value):
    with torch.no_grad():
        p.fill_(value)


def test_on_cpu_every_loss_is_read_at_once_and_averaged():
    m = StepLosses(torch.device("cpu"), window=2)
    p = torch.nn.Parameter(torch.zeros(2))
    for step, values in enumerate([(1.0, 3.0), (4.0,), (6.0,)], start=1):
        for v in values:
            m.add(torch.tensor(v))
        assert m.step(step, [p]) is None
        assert not m.pending and m._snapshot is None  # known at once: no copy of the weights needed
    assert m.reports() == [(1, 2.0, 2.0), (2, 4.0, 3.0), (3, 6.0, 5.0)]
    assert is_host_tensor(m._free[0])


def test_on_cpu_a_nan_loss_stops_before_its_optimizer_step():
    m = StepLosses(torch.device("cpu"), window=4)
    p = torch.nn.Parameter(torch.ones(2))
    m.add(torch.tensor(float("nan")))
    assert m.step(1, [p]) == 1 and torch.equal(p, torch.ones(2))


def test_a_nan_loss_seen_one_step_late_puts_back_the_weights_before_it():
    m = _GpuLikeLosses(torch.device("cpu"), window=4)
    p = torch.nn.Parameter(torch.zeros(3))
    m.add(torch.tensor(1.0))
    assert m.step(1, [p]) is None and len(m.pending) == 1  # not known yet: weights kept
    _opt_step(p, 1.0)
    m.add(torch.tensor(float("inf")))
    assert m.step(2, [p]) is None  # step 1 is read now (waited for: never more than one step late)
    assert m.reports() == [(1, 1.0, 1.0)]
    _opt_step(p, math.nan)  # the optimizer step made from the bad loss
    m.add(torch.tensor(2.0))
    assert m.step(3, [p]) == 2
    assert torch.equal(p.detach(), torch.ones(3))  # the weights after step 1, the last good one
    assert m.reports() == []


def test_drain_reads_the_last_step_and_restores_on_nan():
    m = _GpuLikeLosses(torch.device("cpu"), window=4)
    p = torch.nn.Parameter(torch.zeros(3))
    m.add(torch.tensor(0.5))
    assert m.step(1, [p]) is None
    _opt_step(p, 7.0)
    assert m.drain() is None and m.reports() == [(1, 0.5, 0.5)]
    m.add(torch.tensor(float("nan")))
    assert m.step(2, [p]) is None
    _opt_step(p, math.nan)
    assert m.drain() == 2 and torch.equal(p.detach(), torch.full((3,), 7.0))
