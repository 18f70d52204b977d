"""optimizer_args / lr_scheduler_args parsing (sd-scripts' key=value + ast.literal_eval)."""

import pytest

from trainer.errors import ConfigError
from trainer.optim.args import format_args, parse_optimizer_args


def test_guide_examples():
    args = parse_optimizer_args(["decouple=True", "weight_decay=0.01", "betas=0.9,0.99"])
    assert args == {"decouple": True, "weight_decay": 0.01, "betas": (0.9, 0.99)}
    assert isinstance(args["betas"], tuple) and args["decouple"] is True


def test_literals_bools_and_bare_strings():
    args = parse_optimizer_args(
        ["d_coef=1", "eps=1e-8", "use_bias_correction=false", "safeguard_warmup=TRUE", "mode=triangular2",
         "T_0=549", "gamma_min_lr=0.99915", "init_lr_ground=True", "x=None", "name='a=b'"]
    )
    assert args["d_coef"] == 1 and isinstance(args["d_coef"], int)
    assert args["eps"] == 1e-8
    assert args["use_bias_correction"] is False and args["safeguard_warmup"] is True
    assert args["mode"] == "triangular2"
    assert args["T_0"] == 549 and args["gamma_min_lr"] == 0.99915 and args["init_lr_ground"] is True
    assert args["x"] is None
    assert args["name"] == "a=b"  # split on the first '=' only


def test_one_string_with_quoted_items_and_dict_and_empty():
    assert parse_optimizer_args('"weight_decay=0.01" "betas=0.9,0.999"') == {
        "weight_decay": 0.01, "betas": (0.9, 0.999)}
    assert parse_optimizer_args({"a": 1}) == {"a": 1}
    assert parse_optimizer_args(None) == {} and parse_optimizer_args([]) == {}
    assert parse_optimizer_args("") == {}


def test_later_items_win():
    assert parse_optimizer_args(["a=1", "a=2"]) == {"a": 2}


@pytest.mark.parametrize("bad", ["weight_decay", "=0.1", "weight decay=0.1", "betas="])
def test_bad_item_names_item_and_setting(bad):
    with pytest.raises(ConfigError) as e:
        parse_optimizer_args(["decouple=True", bad], setting="lr_scheduler_args")
    assert "lr_scheduler_args" in str(e.value) and bad in str(e.value)


def test_format_like_sd_scripts():
    text = format_args({"weight_decay": 0.01, "betas": (0.9, 0.999)})
    assert text == "weight_decay=0.01,betas=(0.9, 0.999)"
