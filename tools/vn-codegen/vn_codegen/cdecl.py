"""Parses the small C declaration syntax used by venus-protocol.toml and by vk.xml members."""
from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Decl:
    type: str                    # base type name, e.g. "uint32_t", "VkBufferCreateInfo"
    name: str
    const: bool = False
    ptr: int = 0                 # pointer depth
    const_ptr: bool = False      # "const T* const*": inner pointer const (string arrays)
    dims: list[str] = field(default_factory=list)   # fixed array dimensions
    bitfield: int | None = None
    attrs: dict[str, str] = field(default_factory=dict)


_DECL = re.compile(
    r"^\s*(?P<const>const\s+)?(?:struct\s+)?(?P<type>\w+)\s*(?P<stars>(?:\*\s*(?:const\s*)?)*)"
    r"(?P<name>\w+)\s*(?P<dims>(?:\[\s*\w+\s*\]\s*)*)(?::\s*(?P<bits>\d+))?\s*"
    r"(?:\{(?P<attrs>[^}]*)\})?\s*$")


class DeclError(ValueError):
    pass


def parse_decl(text: str) -> Decl:
    m = _DECL.match(text)
    if not m:
        raise DeclError(f"cannot parse declaration {text!r}")
    stars = m.group("stars") or ""
    attrs: dict[str, str] = {}
    for part in (m.group("attrs") or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition("=")
        attrs[key.strip()] = value.strip() if value else "true"
    return Decl(
        type=m.group("type"),
        name=m.group("name"),
        const=bool(m.group("const")),
        ptr=stars.count("*"),
        const_ptr="const" in stars,
        dims=re.findall(r"\[\s*(\w+)\s*\]", m.group("dims") or ""),
        bitfield=int(m.group("bits")) if m.group("bits") else None,
        attrs=attrs,
    )
