"""Reads the parts of the Vulkan registry (vk.xml) that the wire format depends on."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .cdecl import Decl, parse_decl

API = "vulkan"


def _for_api(elem: ET.Element) -> bool:
    api = elem.get("api")
    return api is None or API in api.split(",")


def _decl_text(elem: ET.Element) -> str:
    parts = []

    # itertext() minus <comment> children, which vk.xml puts inside some declarations.
    def walk(e: ET.Element):
        if e.tag == "comment":
            if e.tail:
                parts.append(e.tail)
            return
        if e.text:
            parts.append(e.text)
        for c in e:
            walk(c)
        if e is not elem and e.tail:
            parts.append(e.tail)
    walk(elem)
    return " ".join("".join(parts).split())


@dataclass
class Member:
    decl: Decl
    len: list[str] = field(default_factory=list)
    altlen: str | None = None
    optional: list[bool] = field(default_factory=list)
    noautovalidity: bool = False
    values: str | None = None

    @property
    def name(self) -> str:
        return self.decl.name


@dataclass
class Type:
    name: str
    category: str
    alias: str | None = None
    members: list[Member] = field(default_factory=list)
    returnedonly: bool = False
    structextends: list[str] = field(default_factory=list)
    allowduplicate: bool = False   # may appear more than once in one pNext chain
    objtypeenum: str | None = None
    dispatchable: bool = False
    base: str | None = None        # bitmask: VkFlags / VkFlags64; basetype: underlying type
    private: bool = False


@dataclass
class Command:
    name: str
    result: str
    params: list[Member]
    alias: str | None = None
    private: bool = False


@dataclass
class Require:
    types: list[str]
    commands: list[str]
    depends: str | None
    enums: list[tuple[str, ET.Element]] = field(default_factory=list)


@dataclass
class Feature:
    name: str
    number: int | None
    supported: list[str]
    requires: list[Require]
    spec_version: int | None = None
    depends: str | None = None
    apitype: str | None = None      # "internal" for the split VK_{BASE,COMPUTE,GRAPHICS}_VERSION_*


@dataclass
class Registry:
    types: dict[str, Type]
    commands: dict[str, Command]
    constants: dict[str, str]
    features: list[Feature]
    extensions: dict[str, Feature]
    header_version: int
    header_version_complete: tuple[int, int, int]
    signed_enums: set[str] = field(default_factory=set)   # enums with a negative value

    def canonical_type(self, name: str) -> str:
        seen = set()
        while name in self.types and self.types[name].alias and name not in seen:
            seen.add(name)
            name = self.types[name].alias
        return name

    def canonical_command(self, name: str) -> str:
        seen = set()
        while name in self.commands and self.commands[name].alias and name not in seen:
            seen.add(name)
            name = self.commands[name].alias
        return name


def _member(elem: ET.Element) -> Member:
    decl = parse_decl(_decl_text(elem))
    return Member(
        decl=decl,
        len=[p.strip() for p in elem.get("len", "").split(",")] if elem.get("len") else [],
        altlen=elem.get("altlen"),
        optional=[p.strip() == "true" for p in elem.get("optional", "").split(",")]
        if elem.get("optional") else [],
        noautovalidity=elem.get("noautovalidity") == "true",
        values=elem.get("values"),
    )


def _requires(elem: ET.Element) -> list[Require]:
    out = []
    for req in elem.findall("require"):
        if not _for_api(req):
            continue
        depends = req.get("depends")
        if depends is None and (req.get("feature") or req.get("extension")):
            parts = [p for p in (req.get("feature"), req.get("extension")) if p]
            depends = "+".join(parts)
        out.append(Require(
            types=[t.get("name") for t in req.findall("type") if _for_api(t)],
            commands=[c.get("name") for c in req.findall("command") if _for_api(c)],
            depends=depends,
            enums=[(e.get("name"), e) for e in req.findall("enum") if _for_api(e)],
        ))
    return out


def _extension_depends(e: ET.Element) -> str | None:
    """The extension's `depends` expression. Registries before 1.3.241 had `requires` (a list of
    extensions, all needed) and `requiresCore` instead."""
    if e.get("depends") is not None:
        return e.get("depends")
    parts = [p for p in (e.get("requires") or "").split(",") if p]
    if e.get("requiresCore"):
        parts.append("VK_VERSION_" + e.get("requiresCore").replace(".", "_"))
    return "+".join(parts) or None


def load(path: str) -> Registry:
    root = ET.parse(path).getroot()
    types: dict[str, Type] = {}
    header_version = 0
    complete = (1, 0, 0)
    for t in root.find("types"):
        if t.tag != "type" or not _for_api(t):
            continue
        cat = t.get("category") or ""
        name = t.get("name") or (t.findtext("name") or "")
        if not name:
            continue
        if cat == "define":
            text = _decl_text(t)
            if name == "VK_HEADER_VERSION":
                header_version = int(re.search(r"VK_HEADER_VERSION\s+(\d+)", text).group(1))
            elif name == "VK_HEADER_VERSION_COMPLETE":
                m = re.search(r"VK_MAKE_API_VERSION\(\s*0\s*,\s*(\d+)\s*,\s*(\d+)\s*,", text)
                complete = (int(m.group(1)), int(m.group(2)), 0)
            continue
        ty = Type(name=name, category=cat, alias=t.get("alias"))
        if cat in ("struct", "union") and not ty.alias:
            ty.members = [_member(m) for m in t.findall("member") if _for_api(m)]
            ty.returnedonly = t.get("returnedonly") == "true"
            ty.structextends = [s for s in (t.get("structextends") or "").split(",") if s]
            ty.allowduplicate = t.get("allowduplicate") == "true"
        elif cat == "handle" and not ty.alias:
            ty.objtypeenum = t.get("objtypeenum")
            ty.dispatchable = (t.findtext("type") or "") == "VK_DEFINE_HANDLE"
        elif cat in ("bitmask", "basetype") and not ty.alias:
            ty.base = t.findtext("type")
        types[name] = ty
    complete = (complete[0], complete[1], header_version)

    constants: dict[str, str] = {}
    for enums in root.findall("enums"):
        if enums.get("name") == "API Constants":
            for e in enums.findall("enum"):
                if e.get("value") is not None:
                    constants[e.get("name")] = e.get("value")
                elif e.get("alias"):
                    constants[e.get("name")] = constants.get(e.get("alias"), "")

    commands: dict[str, Command] = {}
    for c in root.find("commands"):
        if not _for_api(c):
            continue
        if c.get("alias"):
            commands[c.get("name")] = Command(c.get("name"), "", [], alias=c.get("alias"))
            continue
        proto = c.find("proto")
        name = proto.findtext("name")
        commands[name] = Command(
            name=name,
            result=proto.findtext("type"),
            params=[_member(p) for p in c.findall("param") if _for_api(p)],
        )

    features = []
    for f in root.findall("feature"):
        if not _for_api(f):
            continue
        features.append(Feature(name=f.get("name"), number=None,
                                supported=(f.get("api") or "").split(","),
                                requires=_requires(f), depends=f.get("depends"),
                                apitype=f.get("apitype")))

    extensions = {}
    for e in root.find("extensions"):
        spec_version = None
        for req in e.findall("require"):
            for en in req.findall("enum"):
                if (en.get("name") or "").endswith("_SPEC_VERSION") and en.get("value"):
                    try:
                        spec_version = int(en.get("value"))
                    except ValueError:
                        pass
        extensions[e.get("name")] = Feature(
            name=e.get("name"), number=int(e.get("number")),
            supported=(e.get("supported") or "").split(","), requires=_requires(e),
            spec_version=spec_version, depends=_extension_depends(e))

    # C++ gives an enum without a fixed underlying type only the range of its enumerators; a
    # negative value in an enum with none is undefined behaviour, so the codec must know which
    # enums have negative values at all.
    signed_enums: set[str] = set()
    for enums in root.findall("enums"):
        for e in enums.findall("enum"):
            if (e.get("value") or "").startswith("-"):
                signed_enums.add(enums.get("name"))
    for e in root.iter("enum"):
        if e.get("dir") == "-" and e.get("extends"):
            signed_enums.add(e.get("extends"))
    return Registry(types, commands, constants, features, extensions, header_version, complete,
                    signed_enums)
