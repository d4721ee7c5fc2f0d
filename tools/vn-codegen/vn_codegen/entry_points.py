"""Which names a host entry point goes by, and what makes each name callable on a device.

A Venus command id names one command whatever the guest called it: vkCmdSetStencilOpEXT and
vkCmdSetStencilOp travel as the same id. The host driver, though, only resolves a name the device
was created for: on a Vulkan 1.2 device `vkGetDeviceProcAddr(dev, "vkCmdSetStencilOp")` is NULL
while "vkCmdSetStencilOpEXT" works when VK_EXT_extended_dynamic_state is enabled. So every
command carries its providers, one per (name, core version or extension) pair, and the loader
tries exactly those the device was created with.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import registry as reg

# VK_VERSION_1_3, and the split forms of newer registries (VK_BASE_VERSION_1_4, ...).
_VERSION = re.compile(r"^VK_(?:[A-Z]+_)?VERSION_(\d+)_(\d+)$")


@dataclass(frozen=True)
class Provider:
    name: str                                   # the entry point's name as the driver knows it
    version: tuple[int, int] | None = None      # core in this version
    extension: str | None = None                # or added by this extension

    @property
    def describe(self) -> str:
        if self.version:
            return f"Vulkan {self.version[0]}.{self.version[1]}"
        return self.extension or ""


def version_of(feature: str) -> tuple[int, int] | None:
    m = _VERSION.match(feature)
    return (int(m.group(1)), int(m.group(2))) if m else None


def providers(r: reg.Registry, canon: str) -> list[Provider]:
    """Every (name, version or extension) that provides the command whose canonical name is
    `canon`: core versions first, oldest first, then extensions in registry order. A command
    that nothing in the registry requires has no provider (it can never be loaded)."""
    names = {canon} | {n for n, c in r.commands.items() if r.canonical_command(n) == canon}
    core: dict[str, tuple[int, int]] = {}
    for f in r.features:
        v = version_of(f.name)
        if v is None:
            continue
        for req in f.requires:
            for n in req.commands:
                if n in names and (n not in core or v < core[n]):
                    core[n] = v
    out = [Provider(n, version=v) for n, v in sorted(core.items(), key=lambda kv: kv[1])]
    seen = {(p.name, p.extension) for p in out}
    for ext in r.extensions.values():
        if reg.API not in ext.supported:
            continue
        for req in ext.requires:
            for n in req.commands:
                if n in names and (n, ext.name) not in seen:
                    seen.add((n, ext.name))
                    out.append(Provider(n, extension=ext.name))
    return out


def requirement(provs: list[Provider]) -> str:
    """What a guest must have to call the command, for the fatal message: "Vulkan 1.3 or
    VK_EXT_extended_dynamic_state"."""
    parts: list[str] = []
    for p in provs:
        if p.describe not in parts:
            parts.append(p.describe)
    return " or ".join(parts) if parts else "nothing in this registry"
