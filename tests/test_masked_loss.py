"""masked_loss with alpha_mask or mask images (conditioning_data_dir): the mask follows its image's resize,
crop and flip, is applied to the loss in latent space as sd-scripts does, and a masked-out area teaches nothing."""
import numpy as np
import pytest
import torch
from app_fixtures import app_env  # noqa: F401
from conftest import make_dataset, quick_config, run_training, train_data
from PIL import Image


def _half_transparent(folder, name="img0.png", size=(64, 64)):
    """An RGBA image whose right half is fully transparent."""
    rgba = np.full((size[1], size[0], 4), 200, dtype=np.uint8)
    rgba[:, :, 3] = 255
    rgba[:, size[0] // 2:, 3] = 0
    Image.fromarray(rgba, "RGBA").save(folder / name)


def test_alpha_mask_follows_the_image_and_its_flip(tmp_path):
    data_dir = make_dataset(tmp_path / "d", {"1_a": 1})
    _half_transparent(data_dir / "1_a")
    data = train_data(quick_config("m", data_dir, tmp_path / "o", masked_loss=True, alpha_mask=True))
    data.last_flip = False
    m = data.mask(0, (0, 0))
    assert m.shape == (64, 64) and m[:, :32].min() == 1.0 and m[:, 32:].max() == 0.0
    data.last_flip = True
    m = data.mask(0, (0, 0))
    assert m[:, :32].max() == 0.0 and m[:, 32:].min() == 1.0


def test_mask_images_come_from_conditioning_data_dir_and_a_missing_one_is_one_sentence(tmp_path):
    from trainer.dataset.sources import scan_sources
    from trainer.errors import DatasetError

    data_dir = make_dataset(tmp_path / "d", {"1_a": 2})
    masks = tmp_path / "masks" / "1_a"
    masks.mkdir(parents=True)
    arr = np.zeros((64, 64, 3), dtype=np.uint8)
    arr[:16] = (255, 0, 0)  # red channel white in the top quarter only
    Image.fromarray(arr).save(masks / "img0.jpg")
    cfg = quick_config("m", data_dir, tmp_path / "o", masked_loss=True, conditioning_data_dir=str(tmp_path / "masks"))
    with pytest.raises(DatasetError, match=r"img1\.png' has no mask in .*1 image\(s\) of '1_a'"):
        scan_sources(cfg)
    Image.fromarray(arr).save(masks / "img1.png")
    data = train_data(cfg)
    m = data.mask(0, (0, 0))
    assert m[:14].min() > 0.9 and m[18:].max() < 0.1  # jpeg edges aside


def test_the_masked_out_area_adds_nothing_to_the_loss_or_its_gradient():
    from trainer.run.masks import apply_masked_loss

    torch.manual_seed(0)
    pred = torch.randn(2, 4, 8, 8, requires_grad=True)
    target = torch.randn(2, 4, 8, 8)
    masks = torch.ones(2, 64, 64)
    masks[:, :, 32:] = 0  # the right half of every image is ignored
    loss = apply_masked_loss((pred - target) ** 2, {"masks": masks}).mean()
    loss.backward()
    assert pred.grad[..., 4:].abs().max() == 0 and pred.grad[..., :4].abs().min() > 0
    changed = target.clone()
    changed[..., 4:] += 10  # whatever the ignored area holds
    again = apply_masked_loss((pred.detach() - changed) ** 2, {"masks": masks}).mean()
    assert again.item() == pytest.approx(loss.item())
    unmasked = ((pred.detach() - target) ** 2).mean()
    assert loss.item() == pytest.approx(0.5 * unmasked.item(), rel=0.3)  # about half the area counts


def test_a_run_trains_with_alpha_masks_cached_and_flipped_latents(tiny_ckpt, tmp_path):
    from safetensors import safe_open

    data_dir = make_dataset(tmp_path / "d", {"1_a": 2})
    _half_transparent(data_dir / "1_a")
    cfg = quick_config(tiny_ckpt("sd1"), data_dir, tmp_path / "o", masked_loss=True, alpha_mask=True,
                       cache_latents=True, flip_aug=True, max_train_steps=2)
    path, _ = run_training(cfg)
    with safe_open(path, "pt") as f:
        assert f.metadata()["ss_masked_loss"] == "True"


def test_the_dataset_page_shows_an_images_mask_over_it(qtbot, app_env, tmp_path):
    from app_fixtures import wait_loaded

    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    data_dir = make_dataset(tmp_path / "d", {"1_a": 2})
    _half_transparent(data_dir / "1_a")
    page = DatasetPage(CaptionStore(), tmp_path / "cache")
    qtbot.addWidget(page)
    page.set_config({"alpha_mask": True, "masked_loss": True})
    page.open_dataset(data_dir)
    wait_loaded(qtbot, page)
    assert page.select_path(data_dir / "1_a" / "img0.png")
    qtbot.waitUntil(lambda: page.preview.picture.mask is not None, timeout=5000)
    tint = page.preview.picture.mask
    w = tint.width()
    assert tint.pixelColor(w // 4, 5).alpha() == 0 and tint.pixelColor(3 * w // 4, 5).alpha() > 100
    assert "alpha channel" in page.preview.facts.text()
    page.shutdown()


def test_with_cached_latents_a_mask_is_made_once_at_the_latent_size(tmp_path, monkeypatch):
    """The cached mask is the full-size mask area-averaged as apply_masked_loss does it, flipped with its
    latent; its image file is read once, not at every step."""
    import torch.nn.functional as F

    from trainer.run import masks

    data_dir = make_dataset(tmp_path / "d", {"1_a": 1})
    _half_transparent(data_dir / "1_a")
    data = train_data(quick_config("m", data_dir, tmp_path / "o", masked_loss=True, alpha_mask=True))
    full = data.mask(0, (0, 0))  # pixels: the full-size mask
    data.latents, data.cached_crops = [torch.zeros(4, 8, 8)], [(0, 0)]
    reads = []
    real = masks.read_mask_image
    monkeypatch.setattr(masks, "read_mask_image", lambda *a: reads.append(a) or real(*a))
    data.last_flip = False
    small = data.mask(0, (0, 0))
    assert small.shape == (8, 8)
    assert torch.equal(small, F.interpolate(full[None, None], size=(8, 8), mode="area")[0, 0])
    data.last_flip = True
    assert torch.equal(data.mask(0, (0, 0)), torch.flip(small, dims=[-1]))
    loss = torch.ones(1, 4, 8, 8)
    assert torch.equal(masks.apply_masked_loss(loss, {"masks": small[None]}),
                       masks.apply_masked_loss(loss, {"masks": full[None]}))  # the same loss as before
    assert len(reads) == 1
    resized = []
    interpolate = F.interpolate
    monkeypatch.setattr(F, "interpolate", lambda *a, **kw: resized.append(kw) or interpolate(*a, **kw))
    masks.apply_masked_loss(loss, {"masks": small[None]})
    assert not resized  # a mask made at the latent size is used as it is, not resampled every step


def test_a_dataset_configs_relative_mask_folder_is_relative_to_the_file(tmp_path, monkeypatch):
    """conditioning_data_dir in a [[datasets.subsets]] names a folder beside the dataset config, as image_dir
    does (and as the Dataset page keeps it when saving elsewhere), whatever the working folder."""
    from trainer.dataset.sources import scan_sources

    make_dataset(tmp_path / "d", {"1_a": 1})
    (tmp_path / "d" / "masks" / "1_a").mkdir(parents=True)
    Image.new("RGB", (64, 64), (255, 255, 255)).save(tmp_path / "d" / "masks" / "1_a" / "img0.png")
    toml = tmp_path / "d" / "dataset.toml"
    toml.write_text('[[datasets]]\n[[datasets.subsets]]\nimage_dir = "1_a"\n'
                    'conditioning_data_dir = "masks"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # not the dataset config's folder
    cfg = quick_config("m", "", tmp_path / "o", train_data_dir="", dataset_config=str(toml), masked_loss=True)
    (concept,) = scan_sources(cfg).concepts
    assert concept.options["conditioning_data_dir"] == str(tmp_path / "d" / "masks")
    assert train_data(cfg).mask(0, (0, 0)).min() == 1.0


def test_the_dataset_page_shows_the_mask_a_dataset_config_folder_sets(qtbot, app_env, tmp_path):
    """alpha_mask and conditioning_data_dir given per [[datasets.subsets]] (not for the run) show the mask
    each folder trains with."""
    from app_fixtures import wait_loaded

    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    make_dataset(tmp_path / "d", {"1_a": 1, "1_b": 1})
    _half_transparent(tmp_path / "d" / "1_a")
    _half_transparent(tmp_path / "d" / "1_b")  # transparent too, but its folder takes mask images
    (tmp_path / "d" / "masks").mkdir()
    arr = np.zeros((64, 64, 3), dtype=np.uint8)
    arr[32:] = 255  # the bottom half is trained
    Image.fromarray(arr).save(tmp_path / "d" / "masks" / "img0.png")
    toml = tmp_path / "d" / "dataset.toml"
    toml.write_text('[[datasets]]\n[[datasets.subsets]]\nimage_dir = "1_a"\nalpha_mask = true\n'
                    '[[datasets.subsets]]\nimage_dir = "1_b"\nconditioning_data_dir = "masks"\n',
                    encoding="utf-8")
    page = DatasetPage(CaptionStore(), tmp_path / "cache")
    qtbot.addWidget(page)
    page.set_config({"masked_loss": True})
    page.open_dataset(toml)
    wait_loaded(qtbot, page)
    tints = {}
    for folder in ("1_a", "1_b"):
        assert page.select_path(tmp_path / "d" / folder / "img0.png")
        qtbot.waitUntil(lambda: page.preview.picture.mask is not None, timeout=5000)
        tints[folder] = page.preview.picture.mask
        assert ("alpha channel" if folder == "1_a" else "img0.png") in page.preview.facts.text()
    w, h = tints["1_a"].width(), tints["1_a"].height()
    alpha = {k: (lambda x, y, t=t: t.pixelColor(x, y).alpha()) for k, t in tints.items()}
    assert alpha["1_a"](w // 4, 5) == 0 and alpha["1_a"](3 * w // 4, 5) > 100  # the transparent right half
    assert alpha["1_b"](3 * w // 4, 5) > 100 and alpha["1_b"](5, h - 5) == 0  # the mask image's top half
    # mask images are read only with masked_loss: turned off (on the Training page, say), the shown image
    # of that folder loses its mask; the alpha channel of 1_a would still mask the loss
    page.set_config({"masked_loss": False})
    qtbot.waitUntil(lambda: " px" in page.preview.facts.text() and "mask" not in page.preview.facts.text()
                    and page.preview.picture.mask is None, timeout=5000)  # read again, without a mask
    page.set_config({"masked_loss": True})
    qtbot.waitUntil(lambda: page.preview.picture.mask is not None, timeout=5000)
    page.shutdown()


def test_alpha_mask_without_masked_loss_masks_the_loss_as_sd_scripts_does(tmp_path):
    """sd-scripts collates alpha_masks whenever a batch holds an alpha_mask image and then applies the masked
    loss without --masked_loss; mask images (conditioning_data_dir) need masked_loss."""
    data_dir = make_dataset(tmp_path / "d", {"1_a": 1})
    _half_transparent(data_dir / "1_a")
    (tmp_path / "masks").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "masks" / "img0.png")  # all black: would mask everything
    cfg = quick_config("m", data_dir, tmp_path / "o", alpha_mask=True, train_batch_size=1,
                       conditioning_data_dir=str(tmp_path / "masks"))
    batch = train_data(cfg)[0]
    m = batch["masks"][0]
    assert m.shape == (64, 64) and m[:, :32].min() == 1.0 and m[:, 32:].max() == 0.0
    assert m.sum() == 64 * 32  # the opaque half, from the alpha channel (not the black mask image)
    assert "masks" not in train_data(cfg.replace(alpha_mask=False))[0]  # no mask source without masked_loss


def test_mask_images_without_masked_loss_are_a_warning_naming_the_folder(tmp_path):
    from trainer.config.validate import validate

    make_dataset(tmp_path / "d", {"1_a": 1, "1_b": 1})
    (tmp_path / "d" / "masks").mkdir()
    toml = tmp_path / "d" / "dataset.toml"
    toml.write_text('[[datasets]]\n[[datasets.subsets]]\nimage_dir = "1_a"\nconditioning_data_dir = "masks"\n'
                    '[[datasets.subsets]]\nimage_dir = "1_b"\n', encoding="utf-8")
    cfg = quick_config("m", "", tmp_path / "o", train_data_dir="", dataset_config=str(toml))

    def notes(c):
        return [(i.message, i.error) for i in validate(c, need_paths=False) if "mask images" in i.message]

    assert notes(cfg) == [("The mask images of conditioning_data_dir of the folder '1_a' in the dataset config "
                           "are used only with masked_loss; turn it on to train with them.", False)]
    run_level = cfg.replace(dataset_config="", train_data_dir=str(tmp_path / "d"),
                            conditioning_data_dir=str(tmp_path / "d" / "masks"))
    assert [m for m, _ in notes(run_level)] == ["The mask images of conditioning_data_dir are used only with "
                                                "masked_loss; turn it on to train with them."]
    assert notes(cfg.replace(masked_loss=True)) == []
    from app import i18n
    from app.core_text import tr_core

    i18n.set_language("ru")
    try:  # one sentence, its folder part a template of its own
        assert tr_core(notes(cfg)[0][0]).startswith("Маски-картинки из conditioning_data_dir папки '1_a' в")
        assert tr_core(notes(run_level)[0][0]).startswith("Маски-картинки из conditioning_data_dir использ")
    finally:
        i18n.set_language("en")


def test_a_missing_mask_image_is_refused_alike_by_the_check_the_trainer_and_the_preview(
        qtbot, app_env, tmp_path):
    """One rule (mask_files.mask_source): with masked_loss, a folder taking mask images that lacks one for
    an image is refused before the run and by the trainer, and the preview says so (not the alpha)."""
    from app_fixtures import wait_loaded

    from trainer.dataset.images import ImageReadError
    from trainer.dataset.mask_files import check_mask_files, mask_source
    from trainer.dataset.scan import scan_dataset
    from trainer.errors import DatasetError
    from trainer.run.masks import load_mask
    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    data_dir = make_dataset(tmp_path / "d", {"1_a": 1})
    _half_transparent(data_dir / "1_a")
    (tmp_path / "masks").mkdir()  # no img0.png in it
    cfg = quick_config("m", data_dir, tmp_path / "o", masked_loss=True, alpha_mask=True,
                       conditioning_data_dir=str(tmp_path / "masks"))
    scan = scan_dataset(data_dir)
    assert mask_source(scan.images[0], cfg) == ("missing", tmp_path / "masks")
    with pytest.raises(DatasetError, match="has no mask in"):
        check_mask_files(scan, cfg)  # before the run (scan_sources)
    item = train_data(cfg.replace(masked_loss=False)).items[0]
    with pytest.raises(ImageReadError, match="no mask image with the same name"):
        load_mask(item, cfg, (0, 0), False)  # the trainer, had the check been skipped
    assert mask_source(scan.images[0], cfg.replace(masked_loss=False))[0] == "alpha"  # as sd-scripts
    page = DatasetPage(CaptionStore(), tmp_path / "cache")
    qtbot.addWidget(page)
    page.set_config({"alpha_mask": True, "masked_loss": True,
                     "conditioning_data_dir": str(tmp_path / "masks")})
    page.open_dataset(data_dir)
    wait_loaded(qtbot, page)
    assert page.select_path(data_dir / "1_a" / "img0.png")
    qtbot.waitUntil(lambda: " px" in page.preview.facts.text(), timeout=5000)
    assert "no mask image with this name" in page.preview.facts.text() and page.preview.picture.mask is None
    page.shutdown()


def test_typing_conditioning_data_dir_rereads_only_the_tint_and_only_when_the_mask_changes(
        qtbot, app_env, tmp_path, monkeypatch):
    from app_fixtures import wait_loaded

    import widgets.dataset.image_preview as ip
    import widgets.dataset.mask_overlay as mo
    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    data_dir = make_dataset(tmp_path / "d", {"1_a": 1})
    _half_transparent(data_dir / "1_a")
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.new("RGB", (64, 64), (255, 255, 255)).save(masks / "img0.png")  # all trained: no tint anywhere
    calls = {"image": 0, "tint": 0}
    read_preview, read_overlay = ip._read_preview, mo.read_overlay

    def count(key, fn):
        def wrapped(*a, **k):
            calls[key] += 1
            return fn(*a, **k)
        return wrapped

    monkeypatch.setattr(ip, "_read_preview", count("image", read_preview))
    monkeypatch.setattr(mo, "read_overlay", count("tint", read_overlay))
    page = DatasetPage(CaptionStore(), tmp_path / "cache")
    qtbot.addWidget(page)
    page.set_config({"alpha_mask": True})
    page.open_dataset(data_dir)
    wait_loaded(qtbot, page)
    assert page.select_path(data_dir / "1_a" / "img0.png")
    qtbot.waitUntil(lambda: page.preview.picture.mask is not None, timeout=5000)
    before = dict(calls)
    path = str(masks)
    for n in range(1, len(path) + 1):  # typed on the Training page, without masked_loss: the alpha stays
        page.set_config({"conditioning_data_dir": path[:n]})
    assert calls == before and "alpha channel" in page.preview.facts.text()
    page.set_config({"masked_loss": True})  # now the mask image counts: only the tint is read again
    qtbot.waitUntil(lambda: "(img0.png)" in page.preview.facts.text()
                    and "alpha" not in page.preview.facts.text(), timeout=5000)
    assert calls["image"] == before["image"] and calls["tint"] == before["tint"] + 1
    tint = page.preview.picture.mask
    assert tint.pixelColor(3 * tint.width() // 4, 5).alpha() == 0  # the white mask image, not the alpha
    page.shutdown()


def test_mask_settings_changed_while_the_image_loads_give_the_new_tint_at_the_images_size(qtbot, app_env, tmp_path):
    """Another image is being read when masked_loss is turned on: once it is shown, its tint is its mask
    image's, at its own size (the re-read took the size of the image shown before it)."""
    from app_fixtures import wait_loaded

    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    data_dir = make_dataset(tmp_path / "d", {"1_a": 2})
    _half_transparent(data_dir / "1_a")
    _half_transparent(data_dir / "1_a", "img1.png", size=(96, 32))  # another shape than img0
    masks = tmp_path / "masks"
    masks.mkdir()
    for name, size in (("img0.png", (64, 64)), ("img1.png", (96, 32))):
        Image.new("RGB", size, (255, 255, 255)).save(masks / name)
    page = DatasetPage(CaptionStore(), tmp_path / "cache")
    qtbot.addWidget(page)
    page.set_config({"alpha_mask": True, "conditioning_data_dir": str(masks)})
    page.open_dataset(data_dir)
    wait_loaded(qtbot, page)
    assert page.select_path(data_dir / "1_a" / "img0.png")
    qtbot.waitUntil(lambda: page.preview.picture.mask is not None, timeout=5000)
    assert page.select_path(data_dir / "1_a" / "img1.png")  # its read is on its way
    page.set_config({"masked_loss": True})  # before it arrives: the mask image counts now, not the alpha
    qtbot.waitUntil(lambda: "(img1.png)" in page.preview.facts.text(), timeout=5000)
    qtbot.wait(200)  # any other tint read in flight lands too
    tint, pm = page.preview.picture.mask, page.preview.picture.pixmap
    assert (tint.width(), tint.height()) == (pm.width(), pm.height())
    assert tint.pixelColor(3 * tint.width() // 4, 5).alpha() == 0  # the white mask image, not the alpha
    page.shutdown()
