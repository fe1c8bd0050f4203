"""Recipes: shipped defaults for a kind of data, under the config file and the command line.
Real collar data gets data/recipes/collar.toml unless told otherwise; the synthetic demo none."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from collar_kd.cli import _data_config, app
from collar_kd.config import load_config
from collar_kd.errors import ConfigError
from collar_kd.paths import RECIPES_DIR


def test_real_data_gets_the_collar_recipe_and_the_demo_none():
    import tomllib

    collar = tomllib.loads((RECIPES_DIR / "collar.toml").read_text())
    for fmt in ("csv", "wasp", "bouts"):
        cfg = load_config(None, {"data.format": fmt, "data.path": "somewhere"})
        assert cfg.recipe == "collar"
        assert cfg.data.frame == collar["data"]["frame"] == "animal"
        # the windows every recipe figure was measured with; the command line still chooses others
        assert (cfg.data.window, cfg.data.stride) == (collar["data"]["window"], collar["data"]["stride"]) == ("5s", "2.5s")
        assert _data_config("x", fmt, None, "3s", None, None, None, None, base=cfg.data).window == "3s"
        assert cfg.augment_rotation_axes_deg == collar["augment_rotation_axes_deg"] == [15, 15, 45]
        assert cfg.augment_rotation_deg == 0.0
        assert cfg.student.epochs == collar["student"]["epochs"] == 60
        assert cfg.teacher.filters == collar["teacher"]["filters"] == [32, 64, 64]
        assert cfg.transductive_epochs == collar["transductive_epochs"] == 20
        assert cfg.transductive_labels == collar["transductive_labels"] == "with_student"
        assert cfg.transductive_teachers == collar["transductive_teachers"] == ["turned_forest"]
        assert cfg.transductive_windows == collar["transductive_windows"] == "unlabelled"
        assert cfg.transductive_lr_scale == collar["transductive_lr_scale"] == 1.0
        assert cfg.kd.transfer == collar["kd"]["transfer"] == "mixup"
        assert cfg.kd.transfer_teachers == collar["kd"]["transfer_teachers"] == ["resnet", "forest", "gru"]
        # ... and give way to another method on real data (speq has no transfer set: no exit 2)
        assert load_config(None, {"data.format": fmt, "data.path": "x", "method.name": "speq"}).kd.transfer_teachers == []
        assert cfg.method.name == collar["method"]["name"]
        assert cfg.method.options == {k: v for k, v in collar["method"].items() if k != "name"}
    demo = load_config(None, {})
    assert demo.recipe == "none" and demo.augment_rotation_deg == 0.0 and demo.method.name == "kd" and not demo.method.options
    assert demo.data.frame == "sensor" and demo.augment_rotation_axes_deg == []
    assert (demo.data.window, demo.data.stride) == ("2s", "1s")
    assert demo.student.epochs == 40  # the synthetic demo stays as fast as it was
    assert demo.teacher.filters == [64, 128, 128]
    assert demo.transductive_epochs == 0  # plain defaults: a transductive student from scratch
    assert demo.transductive_labels == "teachers"
    assert demo.transductive_windows == "all" and demo.transductive_teachers == []
    assert demo.kd.transfer == "none"  # the demo and the plain defaults learn from the real windows only
    assert demo.kd.transfer_teachers == []
    plain = load_config(None, {"data.format": "wasp", "recipe": "none"})
    assert plain.recipe == "none" and plain.augment_rotation_deg == 0.0 and plain.method.name == "kd"
    assert plain.data.frame == "sensor"


def test_the_config_file_and_the_command_line_override_the_recipe(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('augment_rotation_deg = 30.0\n[data]\nformat = "wasp"\npath = "x"\n')
    cfg = load_config(f, {})
    assert cfg.recipe == "collar" and cfg.augment_rotation_deg == 30.0
    cfg = load_config(f, {"augment_rotation_deg": 10.0})
    assert cfg.augment_rotation_deg == 10.0
    # Another method: the recipe's settings of its method do not follow it.
    cfg = load_config(f, {"method.name": "kd"})
    assert cfg.method.name == "kd" and cfg.method.options == {}
    cfg = load_config(f, {"method.name": "feed", "method.teachers": ["resnet:0"]})
    assert cfg.method.options == {"teachers": ["resnet:0"]}


def test_a_rotation_limit_given_by_the_user_replaces_the_recipes_other_kind(tmp_path):
    """One limit for all axes and one per axis are one choice: giving either drops the recipe's."""
    recipe = tmp_path / "axes.toml"
    recipe.write_text("augment_rotation_axes_deg = [15, 15, 45]\n")
    cfg = load_config(None, {"recipe": str(recipe), "augment_rotation_deg": 30.0})
    assert cfg.augment_rotation_deg == 30.0 and cfg.augment_rotation_axes_deg == []
    real = {"data.format": "wasp", "data.path": "x"}
    cfg = load_config(None, {**real, "augment_rotation_axes_deg": [10, 10, 180]})
    assert cfg.augment_rotation_axes_deg == [10, 10, 180] and cfg.augment_rotation_deg == 0.0
    with pytest.raises(ConfigError, match="augment_rotation_axes_deg: give either"):  # both from the user: refused
        load_config(None, {**real, "augment_rotation_axes_deg": [10, 10, 180], "augment_rotation_deg": 5.0})


def test_a_recipe_by_path_and_bad_recipes_name_the_setting(tmp_path):
    r = tmp_path / "mine.toml"
    r.write_text("augment_scale = 0.1\n")
    assert load_config(None, {"recipe": str(r)}).augment_scale == 0.1
    with pytest.raises(ConfigError, match="recipe: 'fancy' is neither a shipped recipe"):
        load_config(None, {"recipe": "fancy"})
    bad = tmp_path / "bad.toml"
    bad.write_text("augment_scale = 7.0\n")
    with pytest.raises(ConfigError, match="augment_scale"):
        load_config(None, {"recipe": str(bad)})
    typo = tmp_path / "typo.toml"
    typo.write_text("augment_rotaton_deg = 9.0\n")
    with pytest.raises(ConfigError, match=r"recipe '.*typo.toml' \(.*\): augment_rotaton_deg: unknown setting"):
        load_config(None, {"recipe": str(typo)})
    with pytest.raises(ConfigError, match="not found"):
        load_config(None, {"recipe": str(tmp_path / "gone.toml")})


def test_the_command_line_records_the_recipe(tmp_path, tiny_synthetic):
    from conftest import tiny_toml

    r = CliRunner().invoke(app, ["train", "--data", "synthetic", "--out", str(tmp_path / "bad"), "--recipe", "fancy", "--quiet"])
    assert r.exit_code == 2 and "recipe: 'fancy'" in r.output and not (tmp_path / "bad").exists()
    r = CliRunner().invoke(app, ["train", "--data", "synthetic", "--cv", "none", "--out", str(tmp_path / "run"), "--quiet",
                                 "--config", str(tiny_toml(tiny_synthetic, tmp_path)), "--recipe", "collar", "--method", "kd"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["recipe"] == "collar" and cfg["augment_rotation_axes_deg"] == [15, 15, 45] and cfg["method"]["name"] == "kd"
    assert cfg["data"]["frame"] == "animal"
    assert "Recipe: collar" in (tmp_path / "run" / "report.md").read_text()


def test_a_recipes_transfer_teachers_give_way_to_the_users_method_and_teaching(tmp_path):
    """A recipe's kd.transfer_teachers label its cached transfer set for its method. A user who
    chooses another method, no transfer set or consistent teaching gets the method's own teachers
    (not an error about a setting they never gave); given by the user, they are kept and checked."""
    recipe = tmp_path / "r.toml"
    recipe.write_text('augment_rotation_axes_deg = [15, 15, 45]\n[kd]\ntransfer = "mixup"\n'
                      'transfer_teachers = ["resnet", "forest", "gru"]\n[method]\nname = "ensemble"\n'
                      'teachers = ["resnet", "forest"]\n')
    base = {"recipe": str(recipe)}
    assert load_config(None, base).kd.transfer_teachers == ["resnet", "forest", "gru"]
    assert load_config(None, {**base, "kd.alpha": 0.5}).kd.transfer_teachers == ["resnet", "forest", "gru"]
    for change in ({"method.name": "speq"}, {"method.name": "kd"}, {"kd.transfer": "none"},
                   {"kd.teaching": "consistent"}, {"kd.teaching": "auto"}):
        assert load_config(None, {**base, **change}).kd.transfer_teachers == [], change
    # auto teaching without augmentation is cached: the recipe's teachers stay
    assert load_config(None, {**base, "kd.teaching": "auto", "augment_rotation_axes_deg": [0, 0, 0]}
                       ).kd.transfer_teachers == ["resnet", "forest", "gru"]
    with pytest.raises(ConfigError, match="kd.transfer_teachers: they label the transfer set"):
        load_config(None, {**base, "kd.transfer": "none", "kd.transfer_teachers": ["gru"]})
    assert load_config(None, {**base, "kd.transfer_teachers": []}).kd.transfer_teachers == []
    # a bad value elsewhere is still reported by its own check, not by this one
    with pytest.raises(ConfigError, match="augment_rotation_axes_deg"):
        load_config(None, {**base, "augment_rotation_axes_deg": ["a", 1, 2]})


def test_an_empty_transfer_teachers_option_means_the_methods_own(tmp_path, monkeypatch):
    import collar_kd.pipeline.train_run as run_mod

    seen = {}

    def capture(cfg, *a, **k):
        seen["cfg"] = cfg
        raise KeyboardInterrupt  # no training: only the settings the command line made

    monkeypatch.setattr(run_mod, "run_training", capture)
    recipe = tmp_path / "r.toml"
    recipe.write_text('[kd]\ntransfer = "mixup"\ntransfer_teachers = ["resnet", "gru"]\n')
    for given, expected in (([], ["resnet", "gru"]), (["--kd-transfer-teachers", ""], []),
                            (["--kd-transfer-teachers", "forest, gru"], ["forest", "gru"])):
        CliRunner().invoke(app, ["train", "--out", str(tmp_path / "run"), "--recipe", str(recipe), "--quiet", *given])
        assert seen.pop("cfg").kd.transfer_teachers == expected, given
