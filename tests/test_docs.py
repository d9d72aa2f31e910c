"""The documentation stays true: the generated API reference is fresh, links resolve, the
commands and imports the pages show exist."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HAND_WRITTEN = sorted([*DOCS.glob("*.md"), *DOCS.glob("howto/*.md"), ROOT / "examples" / "README.md"])
GEN = runpy.run_path(str(DOCS / "generate_api.py"), run_name="generate_api")

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def test_api_reference_is_up_to_date(tmp_path):
    status = GEN["generate"](tmp_path)
    failed = [name for name, ok in status.items() if not ok]
    assert not failed, f"modules failed to import: {failed}"
    fresh = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.md")}
    have = {p.name: p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.md")}
    stale = sorted(set(fresh) ^ set(have)) + sorted(n for n in set(fresh) & set(have) if fresh[n] != have[n])
    assert not stale, f"docs/api is stale ({', '.join(stale)}): run `python docs/generate_api.py`"


def test_generated_pages_hold_no_machine_specific_text():
    for page in (DOCS / "api").glob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert str(ROOT) not in text and not re.search(r" at 0x[0-9a-f]{6,}", text), page.name


def test_signature_formatting_is_stable():
    def f(a, b: int = 2, *args, c=(1,), d: float | None = None, **kw) -> str:  # noqa: ARG001
        return ""

    assert GEN["signature"](f, "f") == "f(a, b: int = 2, *args, c=(1,), d: float | None = None, **kw) -> str"


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    ids = set(re.findall(r'<a id="([^"]+)"></a>', text))
    ids |= {_slug(h) for h in re.findall(r"^#+ (.+)$", _FENCE.sub("", text), flags=re.M)}
    return ids


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(page):
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        assert dest.exists(), f"{page.name}: broken link {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{page.name}: no anchor #{anchor} in {dest.name}"


def _subcommands(prog: str) -> set[str]:
    parser = importlib.import_module(f"{prog}.cli").build_parser()
    for action in parser._actions:
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            return set(action.choices)
    return set()


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_commands_and_python_snippets_exist(page):
    commands = {"photonics": _subcommands("photonics"), "dfa": _subcommands("dfa")}
    for lang, body in _FENCE.findall(page.read_text(encoding="utf-8")):
        if lang == "bash":
            for line in body.splitlines():
                m = re.match(r"\s*(photonics|dfa) ([a-z][\w-]*)", line)
                if m and not m.group(2).startswith("-"):
                    assert m.group(2) in commands[m.group(1)], f"{page.name}: `{m.group(1)} {m.group(2)}` is not a command"
                m = re.match(r"\s*python (examples/\w+\.py|docs/\w+\.py|benchmarks/\w+\.py)", line)
                if m:
                    assert (ROOT / m.group(1)).is_file(), f"{page.name}: {m.group(1)} does not exist"
        elif lang == "python":
            tree = ast.parse(body)  # a syntax error fails here
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                            f"{page.name}: `from {node.module} import {alias.name}` fails"
                        )
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        importlib.import_module(alias.name)
