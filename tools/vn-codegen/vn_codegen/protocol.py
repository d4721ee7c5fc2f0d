"""Loads venus-protocol.toml (our description of what Venus adds to the registry)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field


@dataclass
class ProtocolExtension:
    name: str
    number: int
    spec_version: int
    host: bool = True


@dataclass
class Protocol:
    wire_format_version: int
    mesa_extension_number: int
    command_ids: dict[int, list[str]]
    extensions: list[ProtocolExtension]
    private_bitmasks: dict[str, str]
    private_constants: dict[str, int]
    private_stypes: dict[str, int]
    private_structs: dict[str, dict]
    private_commands: dict[str, dict]
    blocked_commands: list[str]
    ignorable_members: list[str]
    union_tags: dict[str, str]
    executor_handwritten: list[str] = field(default_factory=list)
    executor_passthrough: list[str] = field(default_factory=list)
    reviewed_passthrough: dict[str, str] = field(default_factory=dict)
    guest_implemented_commands: dict[str, list[str]] = field(default_factory=dict)
    guest_implemented_structs: list[str] = field(default_factory=list)
    raw: dict = field(repr=False, default_factory=dict)


class ProtocolError(ValueError):
    pass


def load(path: str) -> Protocol:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    ids: dict[int, list[str]] = {}
    for key, value in raw["command_ids"].items():
        try:
            cid = int(key)
        except ValueError as e:
            raise ProtocolError(f"command id {key!r} is not a number") from e
        names = [value] if isinstance(value, str) else list(value)
        ids[cid] = names
    seen: dict[str, int] = {}
    for cid, names in ids.items():
        for n in names:
            if n in seen:
                raise ProtocolError(f"{n} has two command ids: {seen[n]} and {cid}")
            seen[n] = cid
    exts = [ProtocolExtension(name, int(v["number"]), int(v["spec_version"]), bool(v.get("host", True)))
            for name, v in raw["extensions"].items()]
    numbers: dict[int, str] = {}
    for e in exts:
        if e.number in numbers:
            raise ProtocolError(f"extension number {e.number} used by {numbers[e.number]} and {e.name}")
        numbers[e.number] = e.name
    priv = raw.get("private", {})
    exc = raw.get("exceptions", {})
    return Protocol(
        wire_format_version=int(raw["protocol"]["wire_format_version"]),
        mesa_extension_number=int(raw["protocol"]["mesa_extension_number"]),
        command_ids=ids,
        extensions=exts,
        private_bitmasks=dict(priv.get("bitmasks", {})),
        private_constants={k: int(v) for k, v in priv.get("constants", {}).items()},
        private_stypes={k: int(v) for k, v in priv.get("stypes", {}).items()},
        private_structs=dict(priv.get("structs", {})),
        private_commands=dict(priv.get("commands", {})),
        blocked_commands=list(exc.get("blocked_commands", [])),
        ignorable_members=list(exc.get("ignorable_members", [])),
        union_tags=dict(exc.get("union_tags", {})),
        executor_handwritten=list(raw.get("executor", {}).get("handwritten", [])),
        executor_passthrough=list(raw.get("executor_passthrough", {}).get("commands", [])),
        reviewed_passthrough=dict(raw.get("executor", {}).get("reviewed_passthrough", {})),
        # A command no guest can reach counts, for exposure, like one the guest implements with
        # no protocol command at all.
        guest_implemented_commands={
            **{k: list(v) for k, v in raw.get("guest_implemented", {}).get("commands", {}).items()},
            **{k: [] for k in raw.get("unreachable", {}).get("commands", [])}},
        guest_implemented_structs=list(raw.get("guest_implemented", {}).get("structs", [])),
        raw=raw,
    )
