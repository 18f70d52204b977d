"""Every page in Russian at 1280x800: no English words in what the window shows, nothing cut off where Qt can
tell (a one-line label or button narrower than its text, tab bars that need scroll arrows), the core's
sentences (validation, step plan, memory text) translated, decimals with a comma."""
from __future__ import annotations

import re

import pytest
from app_fixtures import app_env, wait_loaded  # noqa: F401 - fixtures
from conftest import make_dataset

# words that give away an untranslated English text (option names, paths and brand names are skipped)
ENGLISH = set("""the and of with for from file files sample samples epoch epochs bucket buckets steps step batch batches
context choose browse run stop save open recent advanced summary healthy image images model network
optimizer activations memory learning rate training folder tools check resize merge weights peak largest part fits
found card not started ready loading per settings dataset captions loss noise precision length logging done shown
selected gradient accumulation estimate""".split())
TOKEN_SKIP = re.compile(r"[_./\\=:<>{}\d@#%]")


def english_words(text: str) -> set[str]:
    plain = re.sub(r"<[^>]+>", " ", text).replace("&nbsp;", " ")
    words = set()
    for token in plain.split():
        if TOKEN_SKIP.search(token):  # option names, paths, file names, numbers
            continue
        w = token.strip("()[],;:!?«»\"'·•—-…").lower()
        if w in ENGLISH:
            words.add(w)
    return words


def shown_texts(win):
    """(widget, text) of what a user reads on the current page: labels, buttons, group titles, tabs, section
    lists, placeholders of empty fields, table headers; not data (tags, captions, paths, option names)."""
    from PySide6.QtWidgets import (QAbstractButton, QGroupBox, QLabel, QLineEdit, QListWidget, QTabBar,
                                   QTableWidget, QWidget)

    out = []
    for w in win.findChildren(QWidget):
        if not w.isVisible() or w.objectName() in ("fieldLabel",):
            continue
        parent = w.parentWidget()
        if parent is not None and parent.objectName() == "tagChip":  # tags are the user's data
            continue
        if isinstance(w, QLabel):
            out.append((w, w.text()))
        elif isinstance(w, QAbstractButton):
            out.append((w, w.text()))
        elif isinstance(w, QGroupBox):
            out.append((w, w.title()))
        elif isinstance(w, QTabBar):
            out += [(w, w.tabText(i)) for i in range(w.count())]
        elif isinstance(w, QListWidget) and w.objectName() == "sectionList":
            out += [(w, w.item(i).text()) for i in range(w.count())]
        elif isinstance(w, QLineEdit) and not w.text():
            out.append((w, w.placeholderText()))
        elif isinstance(w, QTableWidget):
            out += [(w, w.horizontalHeaderItem(i).text()) for i in range(w.columnCount())
                    if w.horizontalHeaderItem(i) is not None]
    return out


def clipped(win) -> list[str]:
    """One-line labels and buttons narrower than their text; tab bars that do not fit."""
    from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton, QTabBar, QWidget

    bad = []
    for w in win.findChildren(QWidget):
        if not w.isVisible():
            continue
        if isinstance(w, QLabel) and w.text() and not w.wordWrap() and w.pixmap().isNull():
            plain = re.sub(r"<[^>]+>", "", w.text()).replace("&nbsp;", " ")
            need = w.fontMetrics().horizontalAdvance(plain.splitlines()[0] if plain else "")
            if "<" not in w.text() and need > w.contentsRect().width() + 2:
                bad.append(f"label {plain[:60]!r}: needs {need} px, has {w.contentsRect().width()}")
        elif isinstance(w, QPushButton) and w.text() and w.sizeHint().width() > w.width() + 2:
            bad.append(f"button {w.text()!r}: needs {w.sizeHint().width()} px, has {w.width()}")
        elif isinstance(w, QLineEdit) and not w.text() and w.placeholderText():
            need = w.fontMetrics().horizontalAdvance(w.placeholderText()) + 12
            if need > w.width():
                bad.append(f"placeholder {w.placeholderText()!r}: needs {need} px, has {w.width()}")
        elif isinstance(w, QTabBar) and w.count() and w.sizeHint().width() > w.width() + 2:
            bad.append(f"tab bar {[w.tabText(i) for i in range(w.count())]} overflows")
    return bad


@pytest.fixture
def ru_window(qtbot, app_env, tiny_ckpt, monkeypatch):  # noqa: F811
    from app import i18n
    from app.main_window import MainWindow
    from app.settings import make_settings
    from trainer import gpu_info
    from trainer.config.fields import TrainConfig

    monkeypatch.setattr(gpu_info, "query_gpus", lambda: None)  # the CPU banner is shown
    i18n.set_language("ru")
    data = make_dataset(app_env / "data")
    cfg = TrainConfig(pretrained_model_name_or_path=str(tiny_ckpt()), train_data_dir=str(data),
                      output_dir=str(app_env / "out"), max_train_epochs=4, train_batch_size=2)
    w = MainWindow(make_settings(), cfg, persist=False)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.open_dataset(str(data))
    wait_loaded(qtbot, w.dataset_page)
    yield w
    i18n.set_language("en")


def test_every_page_in_russian_at_1280x800(qtbot, ru_window):
    w = ru_window
    assert (w.width(), w.height()) == (1280, 800), "the window cannot shrink to 1280x800"
    problems = []
    for index in range(w.tabs.count()):
        w.tabs.setCurrentIndex(index)
        if w.tabs.currentWidget() is w.training_page:
            qtbot.waitUntil(lambda: w.training_page.lr_preview.result is not None or w.training_page.lr_preview.error,
                            timeout=120000)
            qtbot.waitUntil(w.training_page.settle, timeout=60000)
        qtbot.wait(50)
        texts = shown_texts(w)
        assert len(texts) > 15, texts  # the walk sees the page
        for widget, text in texts:
            found = english_words(text)
            if found:
                problems.append(f"page {index}: {type(widget).__name__} {text[:90]!r}: {sorted(found)}")
        problems += [f"page {index}: {c}" for c in clipped(w)]

    def look(where: str) -> None:
        qtbot.wait(50)
        for widget, text in shown_texts(w):
            found = english_words(text)
            if found:
                problems.append(f"{where}: {type(widget).__name__} {text[:90]!r}: {sorted(found)}")
        problems.extend(f"{where}: {c}" for c in clipped(w))

    w.tabs.setCurrentWidget(w.tools_page)
    for i in range(w.tools_page.panels.count()):  # every tool
        w.tools_page.panels.setCurrentIndex(i)
        look(f"tool {i}")
    t = w.training_page
    w.tabs.setCurrentWidget(t)
    for i in range(t.form.sections.count()):  # every section of the settings
        t.form.sections.setCurrentRow(i)
        look(f"settings section {i}")
    t.tabs.setCurrentIndex(1)  # the progress view, before a run
    look("progress view")
    assert not problems, "\n".join(problems)


def test_the_checks_catch_english_and_clipped_text(qtbot, ru_window):
    from PySide6.QtWidgets import QLabel

    probe = QLabel("Choose a training folder", ru_window.tools_page)
    probe.setFixedWidth(30)
    probe.show()
    ru_window.tabs.setCurrentWidget(ru_window.tools_page)
    qtbot.wait(10)
    assert english_words(probe.text()) == {"choose", "training", "folder"}
    assert any("Choose a training folder" in c for c in clipped(ru_window))


def test_core_sentences_are_translated_on_the_training_page(qtbot, ru_window):
    t = ru_window.training_page
    ru_window.tabs.setCurrentWidget(t)
    qtbot.waitUntil(lambda: t.lr_preview.result is not None, timeout=120000)
    qtbot.waitUntil(t.settle, timeout=60000)
    summary = t.lr_preview.summary.text()
    assert "сэмплов за эпоху" in summary and "→" in summary and "samples" not in summary, summary
    memory = t.vram.label.text()
    assert "ГиБ" in memory and re.search(r"\d,\d\d", memory) and "GiB" not in memory, memory
    assert "контекст CUDA" in t.vram.legend.text()
    t.set_value("cache_latents", True)
    t.set_value("random_crop", True)  # a validation error from trainer/config/validate.py, shown by the field
    message = t.form.rows["cache_latents"].message.text()
    assert message.startswith("cache_latents нельзя сочетать с random_crop"), message
    assert "нельзя сочетать" in t.blockers.text()


def test_core_text_keeps_english_and_untranslated_parts():
    from app import i18n
    from app.core_text import tr_core

    text = "44 samples per epoch in 1 bucket(s) -> 22 batches of 2 -> 22 steps per epoch; 10 epoch(s) = 220 steps"
    assert tr_core(text) == text  # English stays exactly the core's text
    i18n.set_language("ru")
    try:
        assert tr_core(text) == ("44 сэмплов за эпоху в бакетах: 1 → 22 батчей по 2 → 22 шагов за эпоху; "
                                 "эпох: 10 = 220 шагов")
        assert tr_core("Something new the core says.") == "Something new the core says."
        assert tr_core("Loading /m/v1.5.safetensors") == "Загрузка /m/v1.5.safetensors"  # a path keeps its dot
        assert tr_core("network_alpha (16.5) above network_dim (8) multiplies the learning rate; usually "
                       "alpha <= dim.").startswith("network_alpha (16,5) больше network_dim (8)")
    finally:
        i18n.set_language("en")


# the core modules whose sentences the window shows: the settings checks beside the fields and in the Start
# blockers (validate and what it calls), the output checks, the memory estimate and the model reading behind
# it, the learning-rate preview, and the Tools page's checks and results
CORE_MODULES = ("trainer/config/validate.py", "trainer/config/validate_options.py",
                "trainer/config/validate_watch.py", "trainer/config/ranges.py", "trainer/config/compat.py",
                "trainer/config/netargs.py", "trainer/network/spec.py", "trainer/optim/checks.py",
                "trainer/optim/args.py", "trainer/dataset/checks.py", "trainer/run/output_plan.py",
                "trainer/vram/estimate.py", "trainer/vram/optimizer.py", "trainer/vram/model.py",
                "trainer/config/plan.py", "trainer/optim/preview.py", "trainer/dataset/plan.py",
                "trainer/models/family.py", "trainer/models/checkpoint_io.py", "trainer/models/loader.py",
                "trainer/tools/lora_modules.py", "trainer/tools/merge.py", "trainer/tools/resize.py",
                "trainer/tools/sample.py", "trainer/tools/sample_axes.py", "trainer/tools/stream_io.py",
                "trainer/tools/check.py")


def test_every_core_sentence_the_window_shows_has_a_russian_template():
    from app import i18n
    from core_sentences import sentence_literals, untranslated

    i18n.set_language("ru")
    try:
        missing = [f"{path}:{line}: {text!r} -> {untranslated(text)}" for path in CORE_MODULES
                   for line, text in sentence_literals(path) if untranslated(text)]
        found = sum(len(sentence_literals(path)) for path in CORE_MODULES)
    finally:
        i18n.set_language("en")
    assert found > 100  # the scan sees the sentences
    assert not missing, "\n".join(missing)


def test_the_sentence_scan_catches_a_new_english_sentence(tmp_path, monkeypatch):
    import core_sentences

    from app import i18n

    (tmp_path / "m.py").write_text('def f(x):\n    """Doc string is not a sentence shown."""\n'
                                   '    raise ValueError(f"network_args {x} is set twice; '
                                   'the zebra wins.")\n')
    monkeypatch.setattr(core_sentences, "ROOT", tmp_path)
    found = core_sentences.sentence_literals("m.py")
    assert found == [(3, "network_args 7 is set twice; the zebra wins.")]
    i18n.set_language("ru")
    try:
        assert core_sentences.untranslated(found[0][1]) == ["network_args 7 is set twice", "the zebra wins."]
    finally:
        i18n.set_language("en")


@pytest.mark.parametrize("change", [
    dict(network_module="lycoris.kohya", network_args=["algo=lokrr"]),
    dict(network_module="lycoris.kohya", network_args=["algo=loha"], fp8_base=True, mixed_precision="bf16"),
    dict(network_args=["preset=attn-only"]),
    dict(optimizer_type="SGDNesterov", optimizer_args=["nesterov=False", "lr=1"]),
    dict(lr_scheduler="cosine_annealing_warmup_restarts",
         lr_scheduler_args=["T_0=0", "gamma=2", "down_factor=2"]),
    dict(lr_scheduler="cosin"),
    dict(optimizer_type="AdaFactor", lr_scheduler="linear", lr_warmup_steps=10),
    dict(train_batch_size=0, network_dropout=1.5, save_precision="fp8"),  # range sentences, made from templates
    dict(face_crop_aug_range="4.0,2.0"),
])
def test_validation_sentences_read_russian(change, app_env):  # noqa: F811
    from app import i18n
    from app.core_text import tr_core
    from core_sentences import english_prose
    from trainer.config.fields import TrainConfig
    from trainer.config.validate import validate

    issues = validate(TrainConfig(**change), need_paths=False)
    assert issues
    i18n.set_language("ru")
    try:
        shown = [tr_core(i.message) for i in issues]
    finally:
        i18n.set_language("en")
    assert all(re.search("[а-я]", s) and not english_prose(s) for s in shown), shown


def test_memory_tooltip_reads_russian(tiny_ckpt, app_env):  # noqa: F811
    from app import i18n
    from core_sentences import english_prose
    from trainer.config.fields import TrainConfig
    from trainer.vram import estimate
    from widgets.training.vram_bar import breakdown_html

    base = dict(pretrained_model_name_or_path=str(tiny_ckpt()))
    ests = [estimate(TrainConfig(**base, **kw)) for kw in (
        {}, dict(cache_latents=True, flip_aug=True, gradient_checkpointing=True, optimizer_type="Prodigy"),
        dict(cache_text_encoder_outputs=True, network_train_unet_only=True, ema="gpu", mixed_precision="bf16",
             fp8_base=True, sample_prompts="p.txt", sample_every_n_epochs=1, optimizer_type="my.Optim"))]
    i18n.set_language("ru")
    try:
        tips = [breakdown_html(e) for e in ests]
    finally:
        i18n.set_language("en")
    for tip in tips:
        assert "ГиБ" in tip and "GiB" not in tip and not english_prose(tip), tip
