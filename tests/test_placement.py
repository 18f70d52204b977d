"""Frozen modules visiting the training device (trainer/placement.py), as sample images and the validation
loss move a VAE / text encoder that caching left on the CPU: moved only when elsewhere, back where each was
after the block, also when it raises."""
import pytest
import torch

from trainer.placement import on_device


class Watched(torch.nn.Linear):
    """A real Linear that notes where it is sent."""

    def __init__(self):
        super().__init__(2, 2)
        self.sent_to: list[torch.device] = []

    def to(self, *args, **kwargs):
        self.sent_to.append(torch.device(args[0]))
        return super().to(*args, **kwargs)


def test_a_module_already_there_is_not_moved_and_one_elsewhere_comes_back_even_after_an_error():
    here, elsewhere = Watched(), Watched()
    weight = elsewhere.weight.detach().clone()
    with pytest.raises(RuntimeError, match="boom"):
        # "cpu:0" is the only device a CPU machine has that differs from where a module is ("cpu")
        with on_device([elsewhere, elsewhere, torch.nn.ReLU()], "cpu:0"):
            # named twice, moved once; the ReLU has no weights: left alone
            assert elsewhere.sent_to == [torch.device("cpu:0")]
            raise RuntimeError("boom")
    assert elsewhere.sent_to == [torch.device("cpu:0"), torch.device("cpu")]
    assert torch.equal(elsewhere.weight, weight)
    with on_device([here], "cpu"):
        pass
    assert here.sent_to == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_modules_visit_the_gpu_and_return_to_the_cpu():
    vae, te = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4).cuda()
    with on_device([vae, te], torch.device("cuda", torch.cuda.current_device())):
        assert vae.weight.device.type == "cuda" and te.weight.device.type == "cuda"
    assert vae.weight.device.type == "cpu" and te.weight.device.type == "cuda"
