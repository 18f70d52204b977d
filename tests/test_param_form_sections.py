"""The parameter form makes only its shown section at first, the others when first shown, asked for or idle;
set_config writes only the fields whose value changed (pytest-qt, offscreen)."""
from __future__ import annotations

from app_fixtures import app_env  # noqa: F401 - fixture


def _section_of(form, name):
    from trainer.config.fields import FIELDS

    return form.group_tabs[FIELDS[name].metadata["group"]]


def test_only_the_shown_section_is_made_and_the_rest_follow(qtbot, app_env):  # noqa: F811
    from trainer.config.fields import FIELDS, TrainConfig
    from widgets.training.param_form import ParamForm

    form = ParamForm(TrainConfig(network_dim=24, sample_every_n_epochs=2))
    qtbot.addWidget(form)
    built = set(form.rows.built())
    assert built and built < set(FIELDS)
    assert all(_section_of(form, n) == 0 for n in built)
    assert set(form.rows) == set(FIELDS) and len(form.rows) == len(FIELDS) and "sample_sampler" in form.rows
    # the config holds every value, made or not
    assert form.config().sample_every_n_epochs == 2
    # a section made later shows the values, checks and read-only state given meanwhile
    form.set_config(form.config().replace(sample_every_n_epochs=5, save_every_n_epochs=None))
    form.set_read_only(True)
    assert "sample_every_n_epochs" not in form.rows.built()
    row = form.rows["sample_every_n_epochs"]  # asking for a row makes its section
    assert row.editor.value() == 5 and not row.container.isEnabled()
    assert not form.rows["save_last_n_epochs"].editor.isEnabled()  # "only used with save_every_n_epochs"
    assert "save_every_n_epochs" in form.rows["save_last_n_epochs"].message.text()
    # choosing a section in the side list makes it before it is shown
    form.set_read_only(False)
    idx = _section_of(form, "optimizer_type")
    assert "optimizer_type" not in form.rows.built()
    form.sections.setCurrentRow(idx)
    assert "optimizer_type" in form.rows.built() and form.stack.currentIndex() == idx
    assert form.rows["optimizer_type"].container.isEnabled()
    # once shown, the rest are made while the user reads
    form.show()
    qtbot.waitUntil(lambda: not form.pending(), timeout=10000)
    assert set(form.rows.built()) == set(FIELDS)


def test_set_config_writes_only_the_changed_fields(qtbot, app_env, monkeypatch):  # noqa: F811
    from trainer.config.fields import TrainConfig
    from trainer.config.ranges import fmt_number
    from widgets.training import field_row
    from widgets.training.param_form import ParamForm

    form = ParamForm(TrainConfig())
    qtbot.addWidget(form)
    form.rows["train_batch_size"]  # noqa: B018 - its section made too
    # text that does not parse: the next config shown replaces it, although its value did not change
    lr = form.rows["learning_rate"].editor
    lr.setText("fast")
    form._edited("learning_rate")
    assert "learning_rate" in form.form_errors()
    written = []
    real = field_row.FieldRow.set_value
    monkeypatch.setattr(field_row.FieldRow, "set_value",
                        lambda self, v: written.append(self.name) or real(self, v))
    form.set_config(form.config().replace(train_batch_size=6))
    assert sorted(written) == ["learning_rate", "train_batch_size"]
    assert form.rows["train_batch_size"].editor.value() == 6 and not form.form_errors()
    assert lr.text() == fmt_number(form.config().learning_rate) != "fast"
    written.clear()
    form.set_config(form.config())
    assert written == []
