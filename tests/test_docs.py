"""The documentation stays true: the API reference generates from the docstrings (every module
imports), links resolve (into the generated reference too), the commands and imports the pages
show exist."""

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
HAND_WRITTEN = sorted([*DOCS.glob("*.md"), *DOCS.glob("howto/*.md"), *DOCS.glob("results/*.md"), ROOT / "examples" / "README.md"])
GEN = runpy.run_path(str(DOCS / "generate_api.py"), run_name="generate_api")

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def api_dir(tmp_path_factory):
    """The API reference, generated once into a temporary folder (it is not checked in)."""
    out = tmp_path_factory.mktemp("api")
    status = GEN["generate"](out)
    failed = [name for name, ok in status.items() if not ok]
    assert not failed, f"modules failed to import: {failed}"
    return out


def test_api_reference_generates_and_is_deterministic(api_dir, tmp_path):
    assert (api_dir / "index.md").is_file() and (api_dir / "cli.md").is_file() and (api_dir / "photonics.device.md").is_file()
    GEN["generate"](tmp_path)
    again = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.md")}
    assert again == {p.name: p.read_text(encoding="utf-8") for p in api_dir.glob("*.md")}


def test_generated_pages_hold_no_machine_specific_text(api_dir):
    for page in api_dir.glob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert str(ROOT) not in text and not re.search(r" at 0x[0-9a-f]{6,}", text), page.name


def test_generated_links_resolve(api_dir):
    for page in api_dir.glob("*.md"):
        _check_links(page, api_dir)


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


def _check_links(page: Path, api_dir: Path) -> None:
    """Every relative link of ``page`` names an existing file and anchor; ``docs/api/`` links
    resolve against the generated reference in ``api_dir``."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        api = (DOCS / "api").resolve()
        if dest == api or api in dest.parents:
            dest = api_dir / dest.relative_to(api)
        assert dest.exists(), f"{page.name}: broken link {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{page.name}: no anchor #{anchor} in {dest.name}"


@pytest.mark.parametrize("page", HAND_WRITTEN + [ROOT / "README.md"], ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(page, api_dir):
    _check_links(page, api_dir)


def _subcommands(prog: str) -> set[str]:
    parser = importlib.import_module(f"{prog}.cli").build_parser()
    for action in parser._actions:
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            return set(action.choices)
    return set()


@pytest.mark.parametrize("page", HAND_WRITTEN + [ROOT / "README.md"], ids=lambda p: str(p.relative_to(ROOT)))
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
