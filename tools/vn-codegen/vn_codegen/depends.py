"""vk.xml `depends` expressions, parsed rather than evaluated as Python.

The registry's grammar (registry/parse_dependency.py in Vulkan-Headers): terms joined by `+` (and)
and `,` (or), both of the same precedence and left-associative, with parentheses for grouping.
A term is a core version (`VK_VERSION_1_2`, `VK_BASE_VERSION_1_0`, ...), an extension name, or,
since vk.xml 1.3.300, a runtime feature `VkPhysicalDeviceFooFeatures::member`. Anything else is an
error naming the expression, so a registry that extends the grammar stops the build instead of
being misread.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Union


class DependsError(ValueError):
    pass


@dataclass(frozen=True)
class Name:
    """A version or extension name."""
    name: str


@dataclass(frozen=True)
class Feature:
    """A runtime feature: `Struct::member`."""
    struct: str
    member: str


@dataclass(frozen=True)
class Op:
    op: str                     # "+" (and) or "," (or)
    left: "Expr"
    right: "Expr"


Expr = Union[Name, Feature, Op]

_TOKEN = re.compile(r"\s*(?:(?P<term>[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)?)|(?P<punct>[+,()]))")


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise DependsError(f"depends={text!r}: cannot read {text[pos:]!r}")
        out.append(m.group("term") or m.group("punct"))
        pos = m.end()
    return out


def parse(text: str) -> Expr:
    toks = _tokens(text)
    if not toks:
        raise DependsError(f"depends={text!r} is empty")
    pos = 0

    def atom() -> Expr:
        nonlocal pos
        if pos >= len(toks):
            raise DependsError(f"depends={text!r}: ends where a term was expected")
        tok = toks[pos]
        pos += 1
        if tok == "(":
            e = expr()
            if pos >= len(toks) or toks[pos] != ")":
                raise DependsError(f"depends={text!r}: unbalanced parentheses")
            pos += 1
            return e
        if tok in "+,)":
            raise DependsError(f"depends={text!r}: {tok!r} where a term was expected")
        if "::" in tok:
            struct, member = tok.split("::")
            return Feature(struct, member)
        return Name(tok)

    def expr() -> Expr:
        nonlocal pos
        left = atom()
        while pos < len(toks) and toks[pos] in "+,":
            op = toks[pos]
            pos += 1
            left = Op(op, left, atom())
        return left

    e = expr()
    if pos != len(toks):
        raise DependsError(f"depends={text!r}: unexpected {toks[pos]!r}")
    return e


def evaluate(e: Expr, name: Callable[[str], bool], feature: Callable[[str, str], bool]) -> bool:
    if isinstance(e, Name):
        return name(e.name)
    if isinstance(e, Feature):
        return feature(e.struct, e.member)
    left = evaluate(e.left, name, feature)
    if e.op == "+":
        return left and evaluate(e.right, name, feature)
    return left or evaluate(e.right, name, feature)


def names(e: Expr) -> set[str]:
    """Every version and extension name the expression mentions."""
    if isinstance(e, Name):
        return {e.name}
    if isinstance(e, Feature):
        return set()
    return names(e.left) | names(e.right)


def features(e: Expr) -> set[tuple[str, str]]:
    if isinstance(e, Feature):
        return {(e.struct, e.member)}
    if isinstance(e, Name):
        return set()
    return features(e.left) | features(e.right)
