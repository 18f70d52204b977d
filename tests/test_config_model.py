"""The one config the pages share (trainer/config/model.py): changes checked like a file's, told to every
listener with the names that changed and who changed them, nothing told when nothing changed."""
import pytest

from trainer.config.fields import TrainConfig
from trainer.config.model import ConfigModel
from trainer.errors import ConfigError


def _listen(model):
    calls = []
    unsubscribe = model.subscribe(lambda cfg, names, source: calls.append((cfg, set(names), source)))
    return calls, unsubscribe


def test_defaults_are_train_configs_and_updates_reach_every_listener():
    model = ConfigModel()
    assert model.get() == TrainConfig() and model.get().enable_bucket is False
    a, _ = _listen(model)
    b, _ = _listen(model)
    page = object()
    assert model.update(source=page, train_batch_size=4, resolution="768,768") == {"train_batch_size",
                                                                                    "resolution"}
    assert model.get().train_batch_size == 4 and model.get().resolution == "768,768"
    for calls in (a, b):
        assert len(calls) == 1
        cfg, names, source = calls[0]
        assert cfg is model.get() and names == {"train_batch_size", "resolution"} and source is page


def test_an_update_that_changes_nothing_tells_nobody():
    model = ConfigModel(TrainConfig(train_batch_size=2))
    calls, _ = _listen(model)
    assert model.update(train_batch_size=2) == frozenset()
    assert model.set(TrainConfig(train_batch_size=2)) == frozenset()
    assert calls == []


def test_values_are_checked_and_converted_like_a_toml_files():
    model = ConfigModel()
    calls, _ = _listen(model)
    with pytest.raises(ConfigError, match="train_batch_size"):
        model.update(train_batch_size="four")
    with pytest.raises(ConfigError, match="Unknown setting 'network_dims'"):
        model.update(network_dims=8)
    assert calls == [] and model.get() == TrainConfig()  # a refused change leaves the config as it was
    model.update(max_bucket_reso=1536.0, resolution=768)  # a whole float is an int; one number a resolution
    assert model.get().max_bucket_reso == 1536 and isinstance(model.get().max_bucket_reso, int)
    assert model.get().resolution == "768"


def test_set_takes_a_whole_config_and_names_the_fields_that_differ():
    model = ConfigModel()
    calls, _ = _listen(model)
    new = TrainConfig(network_dim=16, enable_bucket=True)
    assert model.set(new, source="preset") == {"network_dim", "enable_bucket"}
    assert model.get() is new and calls[0][1:] == ({"network_dim", "enable_bucket"}, "preset")


def test_unsubscribe_stops_the_calls_even_during_a_notification():
    model = ConfigModel()
    seen = []
    unsubs = []

    def first(cfg, names, source):
        seen.append("first")
        unsubs[1]()  # the second listener leaves while the first is told: it is not told any more

    unsubs.append(model.subscribe(first))
    unsubs.append(model.subscribe(lambda *_: seen.append("second")))
    model.update(network_dim=8)
    assert seen == ["first"]
    unsubs[0]()
    unsubs[0]()  # twice is harmless
    model.update(network_dim=32)
    assert seen == ["first"]
