"""trainer.dataset.buckets against values produced by sd-scripts' own code.

The expected values below were produced by running sd-scripts' ``model_util.make_bucket_resolutions``,
``train_util.BucketManager.select_bucket``/``get_crop_ltrb`` and ``trim_and_resize_if_required`` (copied to a
scratch script outside the repository) and are hard-coded here.
"""

import math
import random

import pytest

from trainer.dataset.buckets import (
    Bucketer,
    adjust_bucket_reso,
    crop_for,
    make_bucket_resolutions,
    sdxl_crop_ltrb,
)
from trainer.errors import ConfigError

SD_SCRIPTS_512 = [
    (256, 832), (256, 896), (256, 960), (256, 1024), (320, 704), (320, 768), (384, 640), (448, 576),
    (512, 512), (576, 448), (640, 384), (704, 320), (768, 320), (832, 256), (896, 256), (960, 256),
    (1024, 256),
]


def _independent_buckets(max_w, max_h, lo, hi, step):
    """The documented rule, written out again: square side plus (w, area//w rounded down) pairs."""
    area = max_w * max_h
    out = {(math.isqrt(area) // step * step,) * 2}
    for w in range(lo, hi + 1, step):
        h = min(hi, area // w // step * step)
        if h >= lo:
            out |= {(w, h), (h, w)}
    return sorted(out)


def test_bucket_list_512_matches_sd_scripts():
    got = make_bucket_resolutions((512, 512), 256, 1024, 64)
    assert got == SD_SCRIPTS_512
    assert got == _independent_buckets(512, 512, 256, 1024, 64)
    known = [(512, 512), (448, 576), (576, 448), (384, 640), (640, 384), (320, 768), (768, 320), (256, 1024)]
    for b in known:
        assert b in got
    assert Bucketer(512).resolutions == SD_SCRIPTS_512


def test_bucket_list_other_resolutions():
    assert make_bucket_resolutions((768, 512), 256, 1024, 64) == [
        (256, 1024), (320, 1024), (384, 896), (384, 960), (384, 1024), (448, 832), (512, 704), (512, 768),
        (576, 576), (576, 640), (640, 576), (704, 512), (768, 512), (832, 448), (896, 384), (960, 384),
        (1024, 256), (1024, 320), (1024, 384)]
    sdxl = make_bucket_resolutions((1024, 1024), 256, 2048, 64)
    assert len(sdxl) == 41 and (1024, 1024) in sdxl and (832, 1216) in sdxl and (1216, 832) in sdxl
    assert sdxl == _independent_buckets(1024, 1024, 256, 2048, 64)


# (image size) -> (bucket, resized size, ar_error) from sd-scripts, resolution 512, min 256, max 1024, step 64
SD_SCRIPTS_SELECT = {
    (1000, 500): ((704, 320), (704, 352), 0.20000000000000018),
    (500, 1000): ((320, 704), (352, 704), -0.04545454545454547),
    (512, 512): ((512, 512), (512, 512), 0.0),
    (768, 512): ((640, 384), (640, 427), 0.16666666666666674),
    (640, 480): ((576, 448), (597, 448), -0.04761904761904745),
    (300, 200): ((640, 384), (640, 427), 0.16666666666666674),
    (1920, 1080): ((640, 384), (683, 384), -0.11111111111111094),
    (1080, 1920): ((384, 640), (384, 683), 0.03749999999999998),
    (100, 3000): ((256, 1024), (256, 7680), 0.21666666666666667),
    (333, 777): ((320, 768), (329, 768), -0.011904761904761862),
    (448, 576): ((448, 576), (448, 576), 0.0),
}

SD_SCRIPTS_NO_UPSCALE = {
    (1000, 500): ((640, 320), (640, 320), 0.0),
    (512, 512): ((512, 512), (512, 512), 0.0),
    (300, 200): ((256, 192), (300, 200), -0.16666666666666674),
    (1920, 1080): ((640, 384), (683, 384), -0.11111111111111094),
    (513, 700): ((384, 512), (384, 524), 0.017142857142857126),
    (600, 450): ((512, 384), (512, 384), 0.0),
    (4000, 3000): ((512, 384), (512, 384), 0.0),
    (777, 333): ((768, 320), (777, 333), 0.06666666666666643),
}

SD_SCRIPTS_NO_BUCKET = {
    (1000, 500): ((512, 512), (1024, 512), -1.0),
    (300, 200): ((512, 512), (768, 512), -0.5),
    (512, 768): ((512, 512), (512, 768), 0.33333333333333337),
}


@pytest.mark.parametrize("size", list(SD_SCRIPTS_SELECT))
def test_select_bucket_matches_sd_scripts(size):
    a = Bucketer((512, 512), True, 256, 1024, 64).assign(*size)
    assert (a.bucket, a.resized, a.ar_error) == SD_SCRIPTS_SELECT[size]


def test_1000x500_lands_in_704x320():
    a = Bucketer(512).assign(1000, 500)
    assert a.bucket == (704, 320) and a.resized == (704, 352) and not a.upscaled
    assert crop_for(a) == (0, 16, 704, 336)  # centre crop of 32 excess rows


@pytest.mark.parametrize("size", list(SD_SCRIPTS_NO_UPSCALE))
def test_no_upscale_matches_sd_scripts(size):
    a = Bucketer(512, bucket_no_upscale=True).assign(*size)
    assert (a.bucket, a.resized, a.ar_error) == SD_SCRIPTS_NO_UPSCALE[size]
    assert not a.upscaled


@pytest.mark.parametrize("size", list(SD_SCRIPTS_NO_BUCKET))
def test_without_buckets_cover_and_center_crop(size):
    b = Bucketer(512, enable_bucket=False)
    assert b.resolutions == [(512, 512)]
    a = b.assign(*size)
    assert (a.bucket, a.resized, a.ar_error) == SD_SCRIPTS_NO_BUCKET[size]
    assert a.resized[0] >= 512 and a.resized[1] >= 512


def test_upscaled_flag():
    b = Bucketer(1024, max_bucket_reso=2048)
    small = b.assign(512, 512)
    assert small.bucket == (1024, 1024) and small.upscaled  # "a 1024 px bucket for 512 px images"
    assert not b.assign(2048, 2048).upscaled
    assert Bucketer(512).assign(300, 200).upscaled


def test_no_upscale_tiny_or_extreme_images_are_unusable():
    # sd-scripts raises ZeroDivisionError for these; we return a bucket with a zero side, marked unusable
    b = Bucketer(512, bucket_no_upscale=True)
    assert not b.assign(50, 50).usable
    assert not b.assign(4711, 72).usable
    assert b.assign(64, 64).usable


def test_sdxl_crop_ltrb_matches_sd_scripts():
    assert sdxl_crop_ltrb((704, 320), (1000, 500)) == (32.0, 0, 672.0, 320)
    assert sdxl_crop_ltrb((320, 704), (500, 1000)) == (0, 32.0, 320, 672.0)
    assert Bucketer(512).assign(1000, 500).crop_ltrb == (32.0, 0, 672.0, 320)


def test_random_crop_draws_like_sd_scripts():
    a = Bucketer(512).assign(1000, 500)  # resized 704x352 into 704x320: only vertical excess (32)
    seen = {crop_for(a, True, random.Random(s))[1] for s in range(200)}
    assert seen == set(range(0, 33))  # randint(0, excess) inclusive
    rng_a, rng_b = random.Random(5), random.Random(5)
    left, top, right, bottom = crop_for(a, True, rng_a)
    assert (left, top) == (0, rng_b.randint(0, 32)) and (right - left, bottom - top) == (704, 320)
    # both sides in excess: horizontal is drawn first
    b = Bucketer(512, enable_bucket=False).assign(1000, 500)  # resized 1024x512 -> 512x512
    rng_c, rng_d = random.Random(9), random.Random(9)
    assert crop_for(b, True, rng_c)[:2] == (rng_d.randint(0, 512), 0)


def test_adjust_and_validate_bucket_reso():
    assert adjust_bucket_reso((512, 512), 300, 1000, 64) == (256, 1024)
    b = Bucketer(512, min_bucket_reso=300, max_bucket_reso=1000)
    assert (b.min_bucket_reso, b.max_bucket_reso) == (256, 1024)
    with pytest.raises(ConfigError, match="min_bucket_reso"):
        Bucketer(512, min_bucket_reso=640)
    with pytest.raises(ConfigError, match="max_bucket_reso"):
        Bucketer(1024, max_bucket_reso=768)
    Bucketer(1024, enable_bucket=False, max_bucket_reso=768)  # ignored without bucketing, as in sd-scripts


def test_assign_is_deterministic_and_stateless():
    b = Bucketer(768)
    first = [b.assign(w, h) for w, h in [(800, 600), (600, 800), (1234, 567)]]
    again = [b.assign(w, h) for w, h in [(800, 600), (600, 800), (1234, 567)]]
    assert first == again
