"""msads-demo's command line: plain-text help for every option (the full run is tests/packaging)."""

from __future__ import annotations

import pytest

from airflow_provider_msads.testing.demo_cli import example_dags_folder, main


def test_help_is_plain_text_and_covers_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and ":class:" not in text and ":mod:" not in text, "no RST markup"
    for option in ("--home", "--accounts", "--seed", "--transport"):
        line = next(line for line in text.splitlines() if line.strip().startswith(option))
        body = text[text.index(line) :].split("\n  -", 1)[0]
        assert "(default:" in " ".join(body.split()), f"{option} has no help with its default"


def test_the_demo_runs_the_checkouts_example_dags() -> None:
    folder = example_dags_folder()
    assert folder.name == "example_dags" and (folder / "msads_accounts_to_sql.py").is_file()
    assert folder.parent.joinpath("pyproject.toml").is_file(), "from a checkout: the top-level folder"
