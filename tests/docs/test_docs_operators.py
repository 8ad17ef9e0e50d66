"""docs/operators.md is generated from the operators' docstrings: it must be current and complete."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

from airflow_provider_msads.operators import accounts, reports

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen-operator-docs"
DOC = REPO / "docs" / "operators.md"


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    """The generator script, loaded as a module (it has no .py suffix)."""
    loader = importlib.machinery.SourceFileLoader("msads_gen_operator_docs", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _section(text: str, title: str) -> str:
    start = text.index(f"## `{title}`")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_operators_md_is_current(gen: ModuleType) -> None:
    assert DOC.read_text() == gen.render(), "docs/operators.md is stale: run scripts/gen-operator-docs"


def test_docstrings_document_every_parameter_and_its_templating(gen: ModuleType) -> None:
    for name in gen.OPERATORS:
        assert gen.problems(getattr(accounts, name)) == []
    for name in gen.REPORT_OPERATORS:
        assert gen.problems(getattr(reports, name)) == []


@pytest.mark.parametrize("name", ["MicrosoftAdsReportToSqlOperator", "MicrosoftAdsReportOperator"])
def test_reference_lists_every_report_parameter(gen: ModuleType, name: str) -> None:
    cls = getattr(reports, name)
    section = _section(DOC.read_text(), name)
    for param in gen.init_parameters(cls):
        row = re.search(rf"^\| `{param.name}` \|.*$", section, re.MULTILINE)
        assert row, f"{name}: no table row for {param.name}"
        assert ("| yes |" in row.group(0)) == (param.name in cls.template_fields), param.name


@pytest.mark.parametrize("name", ["MicrosoftAdsListAccountsOperator", "MicrosoftAdsAccountsToSqlOperator"])
def test_reference_lists_every_parameter_and_template_field(gen: ModuleType, name: str) -> None:
    cls = getattr(accounts, name)
    section = _section(DOC.read_text(), name)
    params = [p.name for p in gen.init_parameters(cls)]
    assert len(params) >= 10, params  # the shared discovery filters plus the operator's own
    for param in params:
        row = re.search(rf"^\| `{param}` \|.*$", section, re.MULTILINE)
        assert row, f"{name}: no table row for {param}"
        templated = "| yes |" in row.group(0)
        assert templated == (param in cls.template_fields), f"{name}.{param}: wrong 'templated' column"
    fields_line = next(line for line in section.splitlines() if line.startswith("`template_fields`"))
    assert re.findall(r"`(\w+)`", fields_line.split(":", 1)[1]) == list(cls.template_fields)
    for param in gen.init_parameters(cls):  # the default column shows the real default
        if param.default is not inspect.Parameter.empty:
            assert re.search(
                rf"^\| `{param.name}` \| .* \| `{re.escape(repr(param.default))}` \|", section, re.M
            )


def test_problems_catch_a_missing_param_and_a_wrong_templated_note(gen: ModuleType) -> None:
    class Broken(accounts.MicrosoftAdsListAccountsOperator):
        """Broken.

        :param fields: the keys. (templated)
        :param page_size: accounts per page. (templated)
        """

    found = gen.problems(Broken)
    assert any("'statuses' has no :param: line" in p for p in found), found
    assert any("'page_size' is not in template_fields" in p for p in found), found


def test_check_mode_fails_on_a_stale_page(
    gen: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "operators.md"
    stale.write_text(DOC.read_text().replace("rows per batch", "rows per batch (edited by hand)"))
    monkeypatch.setattr(gen, "OUTPUT", stale)
    assert gen.main(["--check"]) == 1
    monkeypatch.setattr(gen, "OUTPUT", DOC)
    assert gen.main(["--check"]) == 0
