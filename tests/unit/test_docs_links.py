"""The docs stand on their own: nothing in the repository points at files outside it, and every
relative link in README.md and docs/*.md leads to a file (and heading) that exists."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Where the plan and references lived before docs/ held what the code needs. Spelt in two
#: halves so that this file does not match itself.
OUTSIDE = ("../" + "shared", "shared/" + "reference")

#: `[text](target)` and `![alt](target)`; the target up to a space or the closing bracket.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    paths = [ROOT / name for name in listed.decode().split("\0") if name]
    return [path for path in paths if path.is_file()]


def markdown_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def relative_links(page: Path) -> list[str]:
    """Links outside code blocks and code spans that name no scheme and are not only an anchor."""
    text = INLINE_CODE.sub("", FENCED.sub("", page.read_text()))
    targets = LINK.findall(text)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors: a heading lowercased, punctuation dropped, spaces made hyphens."""
    text = FENCED.sub("", page.read_text())
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_no_tracked_file_points_outside_the_repository():
    files = tracked_files()
    assert ROOT / "README.md" in files, "git ls-files did not list the repository"
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in files
        for needle in OUTSIDE
        if needle.encode() in path.read_bytes()
    ]
    assert offenders == [], "write what the reference says into docs/ and point there instead"


def test_every_relative_link_in_the_docs_leads_to_a_file_that_exists():
    broken = []
    for page in markdown_pages():
        for target in relative_links(page):
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve()
            if not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_the_glossary_is_linked_from_the_readme_and_the_contributor_page():
    assert "docs/glossary.md" in relative_links(ROOT / "README.md")
    assert "glossary.md" in relative_links(ROOT / "docs" / "adding-a-provider.md")


def test_a_broken_link_and_a_missing_heading_are_caught(tmp_path):
    """The checks above find what they look for: a link in prose counts, one in code does not."""
    page = tmp_path / "page.md"
    page.write_text("# How it works\n\nSee [x](gone.md) and `[y](code.md)`.\n```\n[z](f.md)\n```\n")
    assert relative_links(page) == ["gone.md"]
    assert heading_anchors(page) == {"how-it-works"}
