"""The classes of defect issue 15 found, made impossible rather than fixed one by one: each test
here walks the whole code or the whole schema set, so a new route, field or redirect that forgets
the rule fails it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "ledger" / "web"


def _is_call_to(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == name)
        or (isinstance(node.func, ast.Attribute) and node.func.attr == name))


def unsafe_redirects(source: str, filename: str) -> list[str]:
    """``redirect(x)`` calls whose target is neither ``url_for(...)`` nor ``safe_next(...) or url_for(...)``."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if not _is_call_to(node, "redirect") or not node.args:
            continue
        target = node.args[0]
        if _is_call_to(target, "url_for"):
            continue
        if (isinstance(target, ast.BoolOp) and isinstance(target.op, ast.Or) and _is_call_to(target.values[0], "safe_next")
                and all(_is_call_to(v, "url_for") for v in target.values[1:])):
            continue
        out.append(f"{filename}:{node.lineno}: redirect({ast.unparse(target)})")
    return out


def test_every_web_redirect_goes_to_our_own_route_or_through_safe_next():
    found = [bad for path in sorted(WEB.glob("*.py")) for bad in unsafe_redirects(path.read_text(), path.name)]
    assert found == []


def test_the_redirect_scan_catches_a_target_from_the_request():
    assert unsafe_redirects('redirect(request.args.get("next") or url_for("home"))', "x.py") == [
        "x.py:1: redirect(request.args.get('next') or url_for('home'))"]
    assert unsafe_redirects('redirect(safe_next(request.args.get("next")) or url_for("home"))', "x.py") == []
