"""Config files and overrides: every bad field is named."""

from __future__ import annotations

import pytest

from collar_kd.config import load_config
from collar_kd.errors import ConfigError


def test_defaults_file_then_overrides(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('seed = 3\n[kd]\nalpha = 0.2\n[data]\nwindow = "4s"\n')
    cfg = load_config(p, {"kd.alpha": 0.9, "kd.temperature": None})
    assert cfg.seed == 3 and cfg.kd.alpha == 0.9 and cfg.kd.temperature == 4.0 and cfg.data.window == "4s"


def test_json_config(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"student": {"hidden": 12}}')
    assert load_config(p).student.hidden == 12


@pytest.mark.parametrize(
    "text,field",
    [
        ("[kd]\nalfa = 0.3\n", "kd.alfa: unknown setting"),
        ('[student]\nhidden = "big"\n', "student.hidden: must be a whole number"),
        ("[kd]\nalpha = 1.5\n", "kd.alpha: must be in [0, 1]"),
        ('[kd]\nsoft_weighting = "label"\n', "kd.soft_weighting: must be 'none' or 'class'"),
        ('[kd]\nteacher_correction = "flip"\n', "kd.teacher_correction: must be 'none' or 'swap'"),
        ('[kd]\ntransfer = "munge"\n', "kd.transfer: must be one of none, mixup"),
        ("[kd]\ntransfer_size = 0\n", "kd.transfer_size"),
        ('[kd]\nstart = "teacher"\n', "kd.start: must be one of fresh, no_kd_student"),
        ("[kd]\nstart_epochs = -1\n", "kd.start_epochs: a whole number of epochs"),
        ("[kd]\nepochs = -1\n", "kd.epochs: a whole number of epochs"),
        ('[kd]\ntransfer_teachers = "gru"\n', "kd.transfer_teachers"),
        ('[kd]\ntransfer_teachers = [""]\n', "kd.transfer_teachers: a list of teacher names"),
        ('[kd]\ntransfer_teachers = ["gru"]\n', "kd.transfer_teachers: they label the transfer set"),
        ('augment_rotation_deg = 30.0\n[kd]\ntransfer = "mixup"\nteaching = "consistent"\ntransfer_teachers = ["gru"]\n',
         "kd.transfer_teachers: they give soft labels computed once"),
        ("[kd]\nepochs = 2.5\n", "kd.epochs"),
        ("[kd]\nqat_epochs = -1\n", "kd.qat_epochs: a whole number of epochs"),
        ("[kd]\nqat_epochs = 1.5\n", "kd.qat_epochs"),
        ("[kd]\nstart_epochs = 2.5\n", "kd.start_epochs"),
        ("[kd]\ntransfer_size = 50.0\n", "kd.transfer_size"),
        ("augment_rotation_deg = 30.0\n[kd]\nteacher_views = 65\n", "kd.teacher_views: a whole number of rotated copies"),
        ("augment_rotation_deg = 30.0\n[kd]\nteacher_views = -1\n", "kd.teacher_views: a whole number of rotated copies"),
        ("[kd]\nteacher_views = 4\n", "kd.teacher_views: 4 rotated copies need the run's rotations"),
        ("rf_turned_copies = 2\n", "rf_turned_copies: 2 turned copies need the run's rotations"),
        ("augment_rotation_deg = 30.0\nrf_turned_copies = 65\n", "rf_turned_copies: must be a whole number from 0 to 64"),
        ("augment_rotation_deg = 30.0\nturned_forest_copies = 0\n", "turned_forest_copies: must be a whole number from 1 to 64"),
        ("augment_rotation_deg = 30.0\nturned_forest_copies = 65\n", "turned_forest_copies: must be a whole number from 1 to 64"),
        ('augment_rotation_deg = 30.0\nbaseline_forest = "plain"\n', "baseline_forest: must be one of forest, turned_forest"),
        ('baseline_forest = "turned_forest"\n', "baseline_forest: 'turned_forest' learns from copies turned by the run's rotations"),
        ('transductive = true\ntransductive_teachers = "turned_forest"\n', "transductive_teachers: must be a list"),
        ('transductive = true\ntransductive_teachers = [""]\n', "transductive_teachers: a list of teacher names"),
        ('transductive = true\ntransductive_labels = "student"\ntransductive_teachers = ["turned_forest"]\n',
         "transductive_teachers: not used with transductive_labels 'student'"),
        ('transductive = true\naugment_rotation_deg = 30.0\ntransductive_teachers = ["forest"]\n[kd]\nteaching = "consistent"\n',
         "transductive_teachers: they give soft labels computed once"),
        ('augment_rotation_deg = 30.0\n[kd]\nteacher_views = 4\nteaching = "auto"\n',
         "kd.teacher_views: rotated copies are for soft labels computed once"),
        ('[kd]\ncrossfit_teachers = ["turned_forest"]\n', "kd.crossfit_teachers: a list of distinct network teachers"),
        ('augment_rotation_deg = 30.0\n[kd]\ncrossfit_teachers = ["gru"]\nteaching = "consistent"\n',
         "kd.crossfit_teachers: cross-fitting is for soft labels computed once"),
        ('cv = "kfold"\n', "cv: must be 'loao' or 'none'"),
        ("[teacher]\nfilters = [8, 8]\n", "teacher.filters and teacher.kernels"),
        ("kd = 3\n", "kd: must be a section"),
        ('[method]\nweight_formats = "channel"\n', "method.weight_formats: must be one of row, tensor"),
        # checked for every format: the synthetic and WASP readers ignore units, a typo must not pass
        ('[data]\nunits = "furlongs"\n', "data.units: must be one of g, m/s2, counts"),
        ("[teacher]\nepochs = 0\n", "teacher.epochs: must be a whole number from 1 to 100,000"),
        ("[student]\nepochs = 1000000000\n", "student.epochs: must be a whole number from 1 to 100,000"),
        ("seed = \n", "cannot parse config"),
    ],
)
def test_bad_fields_are_named(tmp_path, text, field):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert field in str(e.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")
