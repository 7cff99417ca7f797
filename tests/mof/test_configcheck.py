"""Start-up checks between config keys, and config errors met at run time in one line."""

from __future__ import annotations

import pytest

from mof.configcheck import ConfigError, check_config
from mof.logs import stage_log


def test_dim_not_divisible_by_heads_names_both_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.dim \(30\).*train\.heads \(4\)"):
        check_config({"train": {"dim": 30, "heads": 4}}, tmp_path)
    check_config({"train": {"dim": 32, "heads": 4}}, tmp_path)


def test_missing_folder_or_a_file_for_a_folder_is_named(tmp_path):
    (tmp_path / "file.cif").write_text("")
    with pytest.raises(ConfigError, match="dataset.folder nope does not exist"):
        check_config({"dataset": {"source": "folder", "folder": "nope"}}, tmp_path)
    with pytest.raises(ConfigError, match="dataset.folder file.cif is a file"):
        check_config({"dataset": {"source": "folder", "folder": "file.cif"}}, tmp_path)
    with pytest.raises(ConfigError, match="properties_csv"):
        check_config({"dataset": {"properties_csv": "no.csv"}}, tmp_path)


def test_a_runtime_config_error_in_a_stage_is_one_line(tmp_path, capsys):
    from mof.dataset import run

    log = tmp_path / "log.txt"
    with pytest.raises(SystemExit) as exc, stage_log(log):
        cfg = {"source": "folder", "folder": str(tmp_path / "missing")}
        run({}, {"table": str(tmp_path / "s.pq")}, cfg)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0] and "Traceback" not in log.read_text()
