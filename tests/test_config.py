"""Settings come from defaults, CDS_* variables, then overrides; bad values fail at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cds.config import SETTINGS_DOC, Settings, misspelled_settings
from cds.errors import ConfigurationError


def test_defaults_serve_loopback_development() -> None:
    settings = Settings.load(environ={})
    assert settings.auth_mode == "off"
    assert settings.database_url == "sqlite:///calf-cds.sqlite3"
    assert settings.max_body_bytes == 5 * 1024 * 1024
    assert settings.max_entries == 10_000


def test_environment_variables_override_defaults() -> None:
    settings = Settings.load(
        environ={
            "CDS_ROUTE_PROFILE": "nice",
            "CDS_FHIR_TIMEOUT_S": "1.5",
            "CDS_CONSOLE": "off",
            "CDS_FHIR_SERVER_ALLOWLIST": "https://a.example, https://b.example",
        }
    )
    assert settings.route_profile == "nice"
    assert settings.fhir_timeout_s == 1.5
    assert settings.console is False
    assert settings.fhir_server_allowlist == ("https://a.example", "https://b.example")


def test_overrides_win_over_the_environment() -> None:
    settings = Settings.load({"route_profile": "default"}, environ={"CDS_ROUTE_PROFILE": "nice"})
    assert settings.route_profile == "default"


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        pytest.param("CDS_ROUTE_PROFILE", "fast", "CDS_ROUTE_PROFILE", id="profile"),
        pytest.param("CDS_AUTH_MODE", "maybe", "CDS_AUTH_MODE", id="auth"),
        pytest.param("CDS_MAX_ENTRIES", "many", "CDS_MAX_ENTRIES", id="int"),
        pytest.param("CDS_CONSOLE", "perhaps", "CDS_CONSOLE", id="bool"),
        pytest.param("CDS_EVALUATION_TIME", "2026-11-25T12:00:00", "offset", id="naive-time"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        Settings.load(environ={variable: value})


def test_readme_documents_every_variable() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [name for name in SETTINGS_DOC if name not in readme]
    assert missing == []
    fields = {f"CDS_{name.upper()}" for name in Settings.__dataclass_fields__ if name != "extra"}
    assert fields == set(SETTINGS_DOC)


@pytest.mark.parametrize(
    ("argv", "worker_class", "threads"),
    [
        (["serve"], "BufferingSyncWorker", 1),
        (["serve", "--threads", "3", "--workers", "1"], "_ThreadedWorker", 3),
    ],
)
def test_serve_runs_buffering_sync_workers_unless_told_to_thread(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], worker_class: str, threads: int
) -> None:
    from cds import cli
    from cds.serving import server as serve

    started: list[dict[str, Any]] = []

    class FakeGunicorn:
        def __init__(self, options: dict[str, Any]) -> None:
            self.options = options

        def run(self) -> None:
            started.append(self.options)
            os.close(int(self.options["bind"].removeprefix("fd://")))  # the bound listener

    monkeypatch.setattr(serve, "_GunicornApp", FakeGunicorn)
    monkeypatch.setattr(serve, "migrate_store", lambda _settings: None)
    monkeypatch.setattr(serve, "prepare_metrics_dir", lambda: "")
    assert cli.main([*argv, "--port", "0"]) == 0
    [options] = started
    assert getattr(options["worker_class"], "__name__", options["worker_class"]) == worker_class
    assert options["threads"] == threads
    assert options["post_worker_init"] is serve._post_worker_init


def test_workers_space_the_young_generation_collections() -> None:
    import gc

    from cds.serving.server import WORKER_GC_THRESHOLDS, configure_worker_gc

    before = gc.get_threshold()
    try:
        configure_worker_gc()
        assert gc.get_threshold() == WORKER_GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_misspelled_setting_is_named_with_the_setting_it_nearly_spells() -> None:
    environ = {
        "CDS_LANGUGE": "ru",  # a typo of CDS_LANGUAGE
        "CDS_AUTHMODE": "required",
        "CDS_LANGUAGE": "en",  # a setting
        "CDS_IMAGE": "calf-cds:2026.2",  # a deployment's own variable: not guessed at
        "PATH": "/usr/bin",
    }

    assert misspelled_settings(environ) == [
        ("CDS_AUTHMODE", "CDS_AUTH_MODE"),
        ("CDS_LANGUGE", "CDS_LANGUAGE"),
    ]
