"""The docs folder: the ten questions at the top of the index, every page reachable, no dead links."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
INDEX = DOCS / "README.md"

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def test_index_opens_with_ten_answered_questions() -> None:
    text = INDEX.read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    assert "ten questions" in sections[1].splitlines()[0].lower(), "the first section must be the questions"
    items = re.split(r"^(?=\d+\. )", sections[1], flags=re.MULTILINE)[1:]
    assert [int(item.split(".", 1)[0]) for item in items] == list(range(1, 11))
    for item in items:
        question = re.match(r"\d+\. \*\*(.+?)\*\*", item)
        assert question and question.group(1).endswith("?"), item[:80]
        answer = item[question.end() :]
        assert len(answer.split()) >= 15, f"question {question.group(1)!r} has no real answer"
        assert _LINK.search(answer), f"question {question.group(1)!r} links to no page"


def test_every_page_is_linked_from_the_index() -> None:
    linked = {m.group(1).split("#")[0] for m in _LINK.finditer(INDEX.read_text())}
    missing = [p.name for p in pages() if p != INDEX and p.name not in linked]
    assert not missing, f"docs/README.md does not link to {missing}"
    assert len(pages()) >= 9


def test_relative_links_and_anchors_resolve() -> None:
    broken = []
    checked = 0
    for page in pages():
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
        for target in (m.group(1) for m in _LINK.finditer(text)):
            if re.match(r"^[a-z]+:", target):  # http(s), mailto: not checked offline
                continue
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            checked += 1
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{page.name}: {target} (no heading with that anchor)")
    assert checked >= 50
    assert not broken, broken


def test_slug_matches_github() -> None:
    assert slug('Connection `msads` ("Microsoft Advertising")') == "connection-msads-microsoft-advertising"
    assert slug("Try it: two commands on a fresh machine") == "try-it-two-commands-on-a-fresh-machine"
    assert slug("Step 4: the refresh token") == "step-4-the-refresh-token"
