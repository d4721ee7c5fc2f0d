"""The generator's model: what is in scope, and how every field travels on the wire.

The model knows the Venus wire rules; the templates only know C++. Every decision about a field
(scalar width, array or pointer, which count, input or output) is made here and stored as plain
attributes, so that the golden tests and pytest can check the rules without reading C++.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import depends, entry_points
from . import registry as reg
from .cdecl import Decl, parse_decl
from .protocol import Protocol

# Scalar types and the Reader/Writer operation that moves them.
SCALARS = {
    "uint8_t": "slot", "int8_t": "slot", "uint16_t": "slot", "int16_t": "slot", "char": "slot",
    "uint32_t": "u32", "int32_t": "i32", "float": "f32", "VkBool32": "u32", "VkSampleMask": "u32",
    "VkFlags": "u32", "uint64_t": "u64", "int64_t": "i64", "double": "f64", "VkDeviceSize": "u64",
    "VkDeviceAddress": "u64", "VkFlags64": "u64", "size_t": "size",
}
WIDTH = {"slot": 4, "u32": 4, "i32": 4, "f32": 4, "u64": 8, "i64": 8, "f64": 8, "size": 8, "enum": 4,
         "uenum": 4}
BYTE_TYPES = {"uint8_t", "char", "void"}


class ModelError(ValueError):
    pass


class Unsupported(Exception):
    """A type or field the wire format cannot carry (function pointers, host pointers, ...)."""


@dataclass
class Elem:
    """What one element of a field is: 'scalar', 'bytes', 'struct', 'union', 'handle', 'string'."""
    cat: str
    type: str
    op: str | None = None            # scalar op (u32, i32, slot, u64, i64, f32, f64, size, enum)
    objtype: str | None = None       # handle: VK_OBJECT_TYPE_*

    @property
    def width(self) -> int:
        return WIDTH[self.op] if self.op else 0


@dataclass
class Field:
    name: str
    kind: str                        # stype pnext allocator scalar handle struct union fixed ptr array string strings
    elem: Elem | None
    ctype: str                       # declared C++ type of the member / Args field
    required: bool = False
    output: bool = False             # command param written by the host (non-const pointer)
    len_expr: str | None = None      # C++ count expression with {o} standing for the owner ("v." / "a.")
    fixed: str | None = None         # fixed array size (constant name or number)
    count_for: list[str] = field(default_factory=list)   # arrays whose length is this scalar
    in_partial: bool = True          # part of the request encoding of an output struct
    len_deps: list[str] = field(default_factory=list)    # fields the count expression reads
    len_simple: str | None = None    # count is exactly this scalar member/param
    len_arrow: list[str] | None = None   # count is a member of a struct param: [param, member]


@dataclass
class Struct:
    name: str
    is_union: bool
    fields: list[Field]
    stype: str | None = None
    extensions: list[str] = field(default_factory=list)
    # Where a chainable struct comes from: the core version that has it ("VK_VERSION_1_2", or
    # None) and the in-scope extensions that add it. A renderer keeps a struct away from the
    # driver unless one of them is exposed.
    core_version: str | None = None
    origin_extensions: list[str] = field(default_factory=list)
    private: bool = False
    returnedonly: bool = False
    allow_duplicate: bool = False    # vk.xml allowduplicate: may repeat in one pNext chain
    partial: bool = False            # reachable as an output: partial variants are generated
    default_tag: int = 0
    min_wire: int = 0
    min_wire_partial: int = 0
    # Only 32-bit integers and floats that need no check (nested structs of the same kind
    # included): the wire bytes are the C struct's bytes, so it decodes as one bounded copy.
    words32: bool = False

    @property
    def has_pnext(self) -> bool:
        return any(f.kind == "pnext" for f in self.fields)


@dataclass
class Command:
    id: int
    # The name used in code: the protocol's first name for the id, whatever the registry calls it,
    # so that hand-written handlers compile against every registry (1.4 renamed promoted
    # commands: vkCmdPushDescriptorSetKHR is vkCmdPushDescriptorSet there).
    name: str
    names: list[str]
    params: list[Field]
    result: str                      # C type, "void" for none
    private: bool = False
    blocked: bool = False
    paths: str = "both"
    # Object lifetime, for the validating/tracking dispatch: output handles this command names
    # (new ids for vkCreate*/vkAllocate*, existing-or-new for queries such as
    # vkEnumeratePhysicalDevices) and the handle parameter a vkDestroy*/vkFree* retires.
    creates: list[Field] = field(default_factory=list)
    creates_new: bool = False
    destroys: Field | None = None
    level: str = "global"            # which dispatch table calls it: global, instance, device
    registry_name: str = ""          # the first of `names` this vk.xml defines (PFN_ types)

    # Every name the host driver may know this command by, with the core version or extension
    # that makes that name callable (entry_points.py).
    providers: list[entry_points.Provider] = field(default_factory=list)

    handwritten: bool = False        # listed in [executor] handwritten
    device_call: bool = False        # listed in [executor_passthrough]
    # Input fields that name memory the driver reads or writes through (buffers, images, query
    # pools, offsets, sizes, counts not sized by the decoder, device addresses): such a command
    # is executed only under a range rule (a hand-written handler that checks them) or a
    # reviewed exemption ([executor.reviewed_passthrough]); without either it is not executed.
    ranges: list[str] = field(default_factory=list)
    exemption: str | None = None

    @property
    def simple_create(self) -> str | None:
        """vkCreateX(device, pCreateInfo, pAllocator, pX): the handle type of X, else None."""
        p = self.params
        if (self.name.startswith("vkCreate") and self.level == "device" and len(p) == 4 and
                p[0].elem.type == "VkDevice" and p[1].kind == "ptr" and p[2].kind == "allocator" and
                p[3].kind == "ptr" and p[3].output and p[3].elem.cat == "handle" and
                not self.blocked and self.result == "VkResult"):
            return p[3].elem.type
        return None

    @property
    def simple_destroy(self) -> str | None:
        """vkDestroyX(device, x, pAllocator): the handle type of x, else None."""
        p = self.params
        if (self.name.startswith("vkDestroy") and self.level == "device" and len(p) == 3 and
                p[0].elem.type == "VkDevice" and p[1].kind == "handle" and
                p[2].kind == "allocator" and not self.blocked):
            return p[1].elem.type
        return None

    @property
    def generated_create(self) -> bool:
        return bool(self.simple_create) and not self.handwritten

    @property
    def generated_destroy(self) -> bool:
        return bool(self.simple_destroy) and not self.handwritten

    @property
    def passthrough(self) -> bool:
        """Executed by calling the driver with the decoded arguments, nothing else: vkCmd*
        (except those listed in [executor] handwritten, which check their arguments first)."""
        return (self.plain_command and not self.handwritten and
                (not self.ranges or self.exemption is not None))

    @property
    def plain_command(self) -> bool:
        """A vkCmd* the generator could execute as a plain call into the driver."""
        return (self.name.startswith("vkCmd") and not self.blocked and not self.private and
                self.level == "device" and self.params[0].elem.type == "VkCommandBuffer" and
                not any(f.output for f in self.params) and self.result == "void")

    @property
    def range_rule(self) -> str:
        """How the memory this command names is kept in bounds, for vn_coverage.txt."""
        if not self.ranges:
            return "names no range"
        if self.handwritten:
            return "range rule: hand-written handler ([executor] handwritten)"
        if self.exemption is not None:
            return "reviewed exemption: " + self.exemption
        return "NO RULE: not executed (fatal), its extensions are not exposed"

    @property
    def short(self) -> str:
        return self.name[2:]

    @property
    def requirement(self) -> str:
        return entry_points.requirement(self.providers)

    @property
    def core_1_0(self) -> bool:
        """Callable on every device: handlers may call it without looking."""
        return any(p.version == (1, 0) for p in self.providers)


@dataclass
class Extension:
    name: str
    number: int
    spec_version: int
    host: bool
    in_registry: bool
    registry_spec_version: int | None
    # Ids of the commands the extension adds (as the registry in use defines it); the executor
    # must implement every one before the extension is exposed.
    command_ids: list[int] = field(default_factory=list)
    # Why the codec cannot carry everything the extension adds (None: it can).
    undecodable: str | None = None


@dataclass
class CoreVersion:
    """A Vulkan core version in scope: what the executor must run before it may offer it."""
    major: int
    minor: int
    # Ids of the commands it adds (the protocol commands the guest sends instead, where the guest
    # driver implements one itself).
    command_ids: list[int] = field(default_factory=list)
    # Why the codec cannot carry everything it adds (None: it can).
    undecodable: str | None = None


@dataclass
class Coverage:
    ids: int = 0
    commands_generated: int = 0
    commands_blocked: int = 0
    commands_missing: list[str] = field(default_factory=list)       # id whose names vk.xml lacks
    commands_unsupported: dict[str, str] = field(default_factory=dict)
    structs_generated: int = 0
    structs_unsupported: dict[str, str] = field(default_factory=dict)
    extensions_in_registry: int = 0
    extensions_missing: list[str] = field(default_factory=list)


@dataclass
class Model:
    registry: reg.Registry
    protocol: Protocol
    structs: dict[str, Struct]
    commands: list[Command]
    extensions: list[Extension]
    handles: dict[str, reg.Type]
    private_structs: list[str]
    coverage: Coverage
    vk_xml_version: tuple[int, int, int]
    max_pnext: int
    core_features: list[str] = field(default_factory=list)     # in scope
    core_out_of_scope: list[str] = field(default_factory=list)
    # The vk.xml version the codec stands for (the capset's vk_xml_version): the registry's, but
    # never past the newest core version in scope.
    covered_version: tuple[int, int, int] = (1, 0, 0)
    core_versions: list[CoreVersion] = field(default_factory=list)

    @property
    def struct_list(self) -> list[Struct]:
        return [self.structs[n] for n in sorted(self.structs)]


# --------------------------------------------------------------------------------------------


class Builder:
    def __init__(self, r: reg.Registry, p: Protocol):
        self.r = r
        self.p = p
        self.cov = Coverage()
        self.ignorable = set(p.ignorable_members)
        known = {n for names in p.command_ids.values() for n in names}
        for c in p.executor_handwritten + p.executor_passthrough:
            if c not in known:
                raise ModelError(f"[executor] {c} has no command id")
        self._check_exception_names()
        self._add_private_types()

    # -- private additions are merged into the registry view ---------------------------------
    def _add_private_types(self) -> None:
        r, p = self.r, self.p
        base = 1000000000 + (p.mesa_extension_number - 1) * 1000
        self.private_stype_values = {k: base + v for k, v in p.private_stypes.items()}
        for name, basetype in p.private_bitmasks.items():
            r.types[name] = reg.Type(name=name, category="bitmask", base=basetype, private=True)
        for name, spec in p.private_structs.items():
            members = [self._private_member(text) for text in spec["members"]]
            for m in members:
                if m.name == "sType":
                    m.values = spec.get("stype")
            if spec.get("stype") and spec["stype"] not in self.private_stype_values:
                raise ModelError(f"{name}: unknown private sType {spec['stype']}")
            r.types[name] = reg.Type(name=name, category="struct", members=members, private=True,
                                     returnedonly=bool(spec.get("returnedonly")),
                                     structextends=list(spec.get("extends", [])))
        for name, spec in p.private_commands.items():
            params = [self._private_member(text) for text in spec["params"]]
            if name in r.commands:
                raise ModelError(f"private command {name} is also in vk.xml")
            r.commands[name] = reg.Command(name=name, result=spec.get("result", "void"),
                                           params=params, private=True)

    @staticmethod
    def _private_member(text: str) -> reg.Member:
        """A declaration from venus-protocol.toml, attributes mapped to vk.xml's."""
        d = parse_decl(text)
        m = reg.Member(decl=d)
        if "len" in d.attrs:
            m.len = [d.attrs["len"]]
        if "optional" in d.attrs:
            m.optional = [True]
        return m

    def _check_exception_names(self) -> None:
        known = {n for names in self.p.command_ids.values() for n in names}
        for c in self.p.blocked_commands:
            if c not in known:
                raise ModelError(f"blocked command {c} has no command id")
        for entry in self.p.ignorable_members:
            if "." not in entry:
                raise ModelError(f"ignorable member {entry!r} is not Struct.member")

    # -- scope ----------------------------------------------------------------------------------
    def scope(self) -> tuple[set[str], set[str], list[Extension]]:
        r, p = self.r, self.p
        exts: list[Extension] = []
        in_scope_ext: set[str] = set()
        by_number = {e.number: e for e in r.extensions.values()}
        for pe in p.extensions:
            re_ = r.extensions.get(pe.name)
            other = by_number.get(pe.number)
            if other and other.name != pe.name and "disabled" not in other.supported:
                raise ModelError(f"extension {pe.number} is {other.name} in vk.xml, "
                                 f"{pe.name} in venus-protocol.toml")
            ok = re_ is not None and reg.API in re_.supported
            if re_ is not None and re_.number != pe.number:
                raise ModelError(f"{pe.name}: number {pe.number} in venus-protocol.toml, "
                                 f"{re_.number} in vk.xml")
            exts.append(Extension(pe.name, pe.number, pe.spec_version, pe.host, ok,
                                  re_.spec_version if re_ else None))
            if ok:
                in_scope_ext.add(pe.name)
        versions = self.core_features()
        known_names = {f.name for f in r.features} | set(r.extensions)

        def name_in_scope(name: str) -> bool:
            if name not in known_names:
                raise ModelError(f"depends names {name}, which is neither a version nor an "
                                 "extension of this vk.xml")
            return name in versions or name in in_scope_ext

        types: set[str] = set()
        commands: set[str] = set()
        sources = [f for f in r.features if f.name in versions]
        sources += [r.extensions[n] for n in sorted(in_scope_ext)]
        parsed: dict[str, depends.Expr] = {}

        def satisfied(dep: str | None) -> bool:
            if not dep:
                return True
            if dep not in parsed:
                try:
                    parsed[dep] = depends.parse(dep)
                except depends.DependsError as e:
                    raise ModelError(str(e)) from e
            return depends.evaluate(parsed[dep], name_in_scope, feature_in_scope)

        def feature_in_scope(struct: str, member: str) -> bool:
            # A runtime feature (Struct::member, vk.xml >= 1.3.300): what it gates can be used
            # when the feature struct itself is part of what we generate.
            t = r.types.get(struct)
            if t is None or t.category != "struct":
                raise ModelError(f"depends names {struct}::{member}, but {struct} is not a struct "
                                 "of this vk.xml")
            if not any(m.name == member for m in r.types[r.canonical_type(struct)].members):
                raise ModelError(f"depends names {struct}::{member}, which {struct} does not have")
            return struct in types or r.canonical_type(struct) in types

        self.require_satisfied = satisfied
        # Feature terms refer to types other blocks require, so repeat until nothing is added.
        while True:
            before = (len(types), len(commands))
            for src in sources:
                for req in src.requires:
                    if not satisfied(req.depends):
                        continue
                    types.update(req.types)
                    commands.update(req.commands)
            if (len(types), len(commands)) == before:
                break
        types.update(self.p.private_structs)
        commands.update(self.p.private_commands)
        self.cov.extensions_in_registry = len(in_scope_ext)
        self.cov.extensions_missing = [e.name for e in exts if not e.in_registry]
        return types, commands, exts

    def core_features(self) -> set[str]:
        """The vk.xml features that are Vulkan core up to MAX_CORE_VERSION. From vk.xml 1.4.330
        core is split into VK_BASE_VERSION_*, VK_COMPUTE_VERSION_* and VK_GRAPHICS_VERSION_*
        (apitype="internal"), with VK_VERSION_* depending on them; all of them count. A feature
        of another shape means the registry grew something the generator does not know: it would
        otherwise drop that feature's commands without a word."""
        out = set()
        self.core_out_of_scope = []
        for f in self.r.features:
            v = core_version_of(f.name)
            if v is None:
                raise ModelError(f"vk.xml feature {f.name} is not a Vulkan core version "
                                 "(VK_VERSION_M_N or VK_{BASE,COMPUTE,GRAPHICS}_VERSION_M_N): "
                                 "the generator does not know what it adds")
            if f.depends:
                try:
                    depends.parse(f.depends)
                except depends.DependsError as e:
                    raise ModelError(f"{f.name}: {e}") from e
            if v <= MAX_CORE_VERSION:
                out.add(f.name)
            else:
                self.core_out_of_scope.append(f.name)
        if not any(core_version_of(n) == (1, 0) for n in out):
            raise ModelError("vk.xml has no Vulkan 1.0 feature")
        return out

    def _struct_origins(self, structs: dict[str, Struct], exts: list[Extension]) -> None:
        """Core version and extensions of every struct that can sit in a pNext chain."""
        r = self.r
        chainable = {n for s in structs.values() for n in s.extensions}
        for f in r.features:
            v = core_version_of(f.name)
            if v is None or v > MAX_CORE_VERSION:
                continue
            name = f"VK_VERSION_{v[0]}_{v[1]}"
            for req in f.requires:
                for t in req.types:
                    s = structs.get(r.canonical_type(t))
                    if s and s.name in chainable and (
                            s.core_version is None or
                            v < _version_order(s.core_version)):
                        s.core_version = name
        for e in exts:
            if not e.in_registry:
                continue
            for req in r.extensions[e.name].requires:
                for t in req.types:
                    s = structs.get(r.canonical_type(t))
                    if s and s.name in chainable and e.name not in s.origin_extensions:
                        s.origin_extensions.append(e.name)

    def _private_order(self, structs: dict[str, Struct]) -> list[str]:
        """Private structs by name, each after the private structs it holds (C needs them
        declared first)."""
        names = sorted(n for n in self.p.private_structs if n in structs)
        out: list[str] = []

        def emit(n: str) -> None:
            if n in out:
                return
            for f in structs[n].fields:
                if f.elem and f.elem.type in names:
                    emit(f.elem.type)
            out.append(n)
        for n in names:
            emit(n)
        return out

    # -- never advertise what we cannot carry ---------------------------------------------------------
    def _decodable_extensions(self, exts: list[Extension], commands: list[Command],
                              structs: dict[str, Struct], failed: dict[str, str]) -> None:
        """An extension may be exposed only when the codec carries every command and struct it
        adds and the executor runs every command (checked at run time against the handlers,
        from command_ids), and what it depends on may be exposed too."""
        r = self.r
        id_of: dict[str, Command] = {}
        for c in commands:
            for n in c.names:
                id_of[n] = c
            id_of[r.canonical_command(c.registry_name)] = c
        toml_names = {n for names in self.p.command_ids.values() for n in names}
        by_name = {e.name: e for e in exts}
        guest_cmds = self.p.guest_implemented_commands
        guest_structs = set(self.p.guest_implemented_structs)
        for targets in guest_cmds.values():
            for t in targets:
                if t not in toml_names:
                    raise ModelError(f"[guest_implemented.commands]: {t} has no command id")
        def required(requires: list[reg.Require], core: bool) -> tuple[set[int], list[str]]:
            reasons: list[str] = []
            ids: set[int] = set()
            for req in requires:
                # Interactions with what is not in scope cannot be reached by a guest.
                if not self.require_satisfied(req.depends):
                    continue
                for cname in req.commands:
                    guest = next((guest_cmds[n] for n in self._spellings(cname) if n in guest_cmds),
                                 None)
                    if guest is not None:
                        # The guest driver implements it, through these protocol commands.
                        for other in guest:
                            c = id_of.get(other)
                            if c is None:
                                reasons.append(f"{cname}: {other} is not generated")
                            else:
                                ids.add(c.id)
                        continue
                    c = id_of.get(cname) or id_of.get(r.canonical_command(cname))
                    if c is None:
                        why = (self.cov.commands_unsupported.get(cname) if cname in toml_names
                               else "no Venus command id")
                        reasons.append(f"{cname}: {why or 'not generated'}")
                    elif c.blocked:
                        # Core's blocked commands (proc addresses, mappings, layers) are the
                        # guest driver's own; an extension's are not carried at all.
                        if not core:
                            reasons.append(f"{cname}: blocked")
                    else:
                        ids.add(c.id)
                for tname in req.types:
                    t = r.types.get(r.canonical_type(tname))
                    if self._type_spellings(tname) & guest_structs:
                        continue
                    if core and tname in _NEVER_ON_THE_WIRE:
                        continue
                    if t and t.category in ("struct", "union") and \
                            r.canonical_type(tname) not in structs:
                        reasons.append(f"{tname}: " + failed.get(r.canonical_type(tname),
                                                                  "not generated"))
            return ids, reasons

        for e in exts:
            if not e.in_registry:
                e.undecodable = "not in this vk.xml"
                continue
            ids, reasons = required(r.extensions[e.name].requires, False)
            e.command_ids = sorted(ids)
            e.undecodable = "; ".join(reasons) if reasons else None
        # Core versions, with the split VK_{BASE,COMPUTE,GRAPHICS}_VERSION_* of newer registries
        # counted under their version.
        in_scope = self.core_features()
        by_version: dict[tuple[int, int], list[reg.Require]] = {}
        for f in r.features:
            if f.name in in_scope:
                by_version.setdefault(core_version_of(f.name), []).extend(f.requires)
        self.core_versions = []
        for v in sorted(by_version):
            ids, reasons = required(by_version[v], True)
            self.core_versions.append(CoreVersion(v[0], v[1], sorted(ids),
                                                  "; ".join(reasons) if reasons else None))
        # Dependencies: an extension whose requirements cannot be exposed cannot be either.
        versions = self.core_features()
        changed = True
        while changed:
            changed = False
            for e in exts:
                if e.undecodable is not None:
                    continue
                dep = r.extensions[e.name].depends
                if not dep:
                    continue
                try:
                    expr = depends.parse(dep)
                except depends.DependsError as err:
                    raise ModelError(f"{e.name}: {err}") from err
                ok = depends.evaluate(
                    expr,
                    lambda n: n in versions or (n in by_name and by_name[n].undecodable is None),
                    lambda s_, m_: True)
                if not ok:
                    e.undecodable = f"depends on {dep}, which cannot be exposed"
                    changed = True

    _VENDOR = re.compile(r"(KHR|EXT)$")

    def _spellings(self, cname: str) -> set[str]:
        """A command's names across registry versions: aliases, and the core name of a
        promoted KHR/EXT command."""
        r = self.r
        canon = r.canonical_command(cname)
        names = {cname, canon} | {n for n, c in r.commands.items() if c.alias == canon}
        return names | {self._VENDOR.sub("", n) for n in names}

    def _type_spellings(self, tname: str) -> set[str]:
        r = self.r
        canon = r.canonical_type(tname)
        names = {tname, canon}
        return names | {self._VENDOR.sub("", n) for n in names}

    # -- fail closed on memory the driver trusts --------------------------------------------------
    def _classify_ranges(self, commands: list[Command], structs: dict[str, Struct]) -> None:
        reviewed = self.p.reviewed_passthrough
        all_ids = {n for names in self.p.command_ids.values() for n in names}
        for name in reviewed:
            if name not in all_ids:
                raise ModelError(f"[executor.reviewed_passthrough] {name} has no command id")
        for c in commands:
            if not (c.plain_command or c.device_call):
                continue  # executed by the executor's own handlers, never generated
            # Dynamic state lands in the driver's fixed-size state arrays: there even a count
            # that only sizes a decoded array indexes driver memory.
            c.ranges = self.range_fields(c.params, structs,
                                         counts=c.name.startswith("vkCmdSet"))
            hits = [n for n in c.names if n in reviewed]
            if hits:
                c.exemption = reviewed[hits[0]]
                if not c.ranges:
                    raise ModelError(f"[executor.reviewed_passthrough] {hits[0]}: names no range, "
                                     "the exemption is stale")
                if c.handwritten:
                    raise ModelError(f"{hits[0]} is both hand-written and a reviewed exemption")
            if c.device_call and c.ranges and c.exemption is None:
                raise ModelError(f"[executor_passthrough] {c.name} names "
                                 f"{', '.join(c.ranges)}: add a range rule (a hand-written "
                                 "handler) or a reviewed exemption ([executor.reviewed_passthrough])")

    def range_fields(self, fields: list[Field], structs: dict[str, Struct], path: str = "",
                     seen: frozenset = frozenset(), counts: bool = False) -> list[str]:
        out: list[str] = []
        for f in fields:
            if f.kind in ("stype", "pnext", "allocator", "unsupported") or f.output:
                continue
            e = f.elem
            if e and e.cat == "handle" and e.type in RANGE_HANDLES:
                out.append(f"{path}{f.name}")
            elif e and e.cat == "scalar" and f.kind in ("scalar", "array", "fixed") and \
                    (counts or not f.count_for) and \
                    (RANGE_NAME.search(f.name) or e.type in RANGE_SCALARS):
                out.append(f"{path}{f.name}")
            if e and e.cat in ("struct", "union"):
                s = structs.get(self.r.canonical_type(e.type))
                if s and s.name not in seen:
                    out += self.range_fields(s.fields, structs, f"{path}{f.name}.",
                                             seen | {s.name}, counts)
        return out

    # -- classification --------------------------------------------------------------------------
    def elem_of(self, tname: str) -> Elem:
        r = self.r
        tname = r.canonical_type(tname)
        if tname in SCALARS:
            return Elem("scalar", tname, SCALARS[tname])
        t = r.types.get(tname)
        if t is None:
            raise Unsupported(f"type {tname} is not defined by this vk.xml")
        if t.category == "enum":
            return Elem("scalar", tname, "enum" if tname in r.signed_enums else "uenum")
        if t.category == "bitmask":
            base = t.base or "VkFlags"
            return Elem("scalar", tname, "u64" if base == "VkFlags64" else "u32")
        if t.category == "basetype":
            if t.base in SCALARS and tname in SCALARS:
                return Elem("scalar", tname, SCALARS[tname])
            raise Unsupported(f"{tname} is a platform or opaque type")
        if t.category == "handle":
            if not t.objtypeenum:
                raise Unsupported(f"handle {tname} has no object type")
            return Elem("handle", tname, objtype=t.objtypeenum)
        if t.category == "struct":
            return Elem("struct", tname)
        if t.category == "union":
            return Elem("union", tname)
        if t.category == "funcpointer":
            raise Unsupported(f"{tname} is a function pointer")
        raise Unsupported(f"{tname} ({t.category or 'external'}) cannot be serialized")

    def len_expr(self, spec: str, siblings: dict[str, Decl], owner_kind: str) -> tuple[str, list[str]]:
        """C++ count expression for a len attribute. {o} is the owner ("v." or "a.")."""
        deps: list[str] = []

        def sub(m: re.Match) -> str:
            tok = m.group(0)
            if tok in siblings:
                deps.append(tok)
                d = siblings[tok]
                if d.ptr:
                    return f"({{o}}{tok} ? *{{o}}{tok} : 0)"
                return "{o}" + tok
            if tok in self.r.constants:
                return tok
            raise ModelError(f"count expression {spec!r} names unknown {tok}")

        m = re.fullmatch(r"(\w+)->(\w+)", spec)
        if m:
            if m.group(1) not in siblings:
                raise ModelError(f"count expression {spec!r} names unknown {m.group(1)}")
            deps.append(m.group(1))
            return f"({{o}}{m.group(1)} ? {{o}}{m.group(1)}->{m.group(2)} : 0)", deps
        if re.search(r"[^\w\s+\-*/()]", spec):
            raise Unsupported(f"count expression {spec!r}")
        return re.sub(r"\b[A-Za-z_]\w*\b", sub, spec), deps

    def field_of(self, owner: str, m: reg.Member, siblings: dict[str, Decl], is_param: bool,
                 first_param: bool = False) -> Field:
        d = m.decl
        optional0 = bool(m.optional and m.optional[0])
        optional_ptr = optional0 or m.noautovalidity or f"{owner}.{d.name}" in self.ignorable
        if d.bitfield is not None:
            raise Unsupported(f"{owner}.{d.name} is a bitfield")
        if d.name == "sType" and d.type == "VkStructureType" and not is_param:
            return Field(d.name, "stype", None, "VkStructureType")
        if d.name == "pNext" and d.type == "void":
            return Field(d.name, "pnext", None, ("const void*" if d.const else "void*"))
        if d.type == "VkAllocationCallbacks" and d.ptr == 1:
            return Field(d.name, "allocator", None, "const VkAllocationCallbacks*")
        output = is_param and d.ptr > 0 and not d.const
        ctype = self.ctype_of(d)
        if d.dims:
            if len(d.dims) > 1:
                raise Unsupported(f"{owner}.{d.name} is a multi-dimensional array")
            e = Elem("bytes", d.type) if d.type == "char" or d.type == "uint8_t" else self.elem_of(d.type)
            if e.cat == "scalar" and e.op == "slot":
                raise Unsupported(f"{owner}.{d.name}: array of {d.type}")
            return Field(d.name, "fixed", e, ctype, fixed=d.dims[0])
        if d.ptr == 0:
            e = self.elem_of(d.type)
            if e.cat == "handle":
                req = is_param and not optional0
                return Field(d.name, "handle", e, ctype, required=req)
            if e.cat in ("struct", "union"):
                return Field(d.name, e.cat, e, ctype)
            return Field(d.name, "scalar", e, ctype)
        if d.type == "char" and d.ptr == 1 and m.len and m.len[0] == "null-terminated":
            return Field(d.name, "string", Elem("string", "char"), ctype, required=not optional0)
        if d.type == "char" and d.ptr == 2 and len(m.len) == 2 and m.len[1] == "null-terminated":
            f = Field(d.name, "strings", Elem("string", "char"), ctype, required=not optional_ptr)
            f.len_expr, f.len_deps = self.len_expr(m.len[0], siblings, owner)
            f.len_simple = m.len[0] if m.len[0] in siblings else None
            return f
        if d.ptr > 1:
            raise Unsupported(f"{owner}.{d.name} is a pointer to pointers")
        spec = m.altlen or (m.len[0] if m.len else None)
        if d.type == "void":
            if not spec:
                raise Unsupported(f"{owner}.{d.name} is a host pointer")
            e = Elem("bytes", "void")
        elif d.type == "uint8_t" and spec:
            e = Elem("bytes", "uint8_t")
        else:
            e = self.elem_of(d.type)
            if e.cat == "scalar" and e.op == "slot" and spec:
                raise Unsupported(f"{owner}.{d.name}: array of {d.type}")
        if spec:
            if len(m.len) > 1:
                raise Unsupported(f"{owner}.{d.name}: multi-dimensional count {m.len}")
            f = Field(d.name, "array", e, ctype, output=output, required=not optional_ptr)
            f.len_expr, f.len_deps = self.len_expr(spec, siblings, owner)
            f.len_simple = spec if spec in siblings else None
            arrow = re.fullmatch(r"(\w+)->(\w+)", spec)
            f.len_arrow = [arrow.group(1), arrow.group(2)] if arrow else None
            return f
        req = not optional0 if is_param else not optional_ptr
        return Field(d.name, "ptr", e, ctype, output=output, required=req)

    def ctype_of(self, d: Decl) -> str:
        t = d.type
        if d.dims:
            return t
        if d.ptr == 0:
            return t
        inner = ("const " if d.const else "") + t + "*"
        if d.ptr == 2:
            inner += (" const*" if d.const_ptr else "*")
        return inner

    # -- structs -----------------------------------------------------------------------------------
    def build_struct(self, t: reg.Type) -> Struct:
        siblings = {m.decl.name: m.decl for m in t.members}
        if t.category == "union":
            # A union member the wire cannot carry (a host pointer beside a device address) only
            # removes that tag; the union stays usable through the others.
            fields = []
            for m in t.members:
                try:
                    fields.append(self.field_of(t.name, m, siblings, is_param=False))
                except Unsupported:
                    fields.append(Field(m.decl.name, "unsupported", None, m.decl.type))
            if all(f.kind == "unsupported" for f in fields):
                raise Unsupported(f"{t.name} has no member the wire can carry")
        else:
            fields = [self.field_of(t.name, m, siblings, is_param=False) for m in t.members]
        by_name = {f.name: f for f in fields}
        for f in fields:
            if f.len_simple and f.len_simple in by_name:
                by_name[f.len_simple].count_for.append(f.name)
        stype = None
        if fields and fields[0].kind == "stype":
            stype = t.members[0].values
            if stype is None:
                raise Unsupported(f"{t.name} has no sType value")
        s = Struct(name=t.name, is_union=(t.category == "union"), fields=fields, stype=stype,
                   private=t.private, returnedonly=t.returnedonly,
                   allow_duplicate=t.allowduplicate)
        for f in fields:
            f.in_partial = self.in_partial(f)
        if s.is_union:
            tag_member = self.p.union_tags.get(t.name)
            names = [f.name for f in fields]
            if tag_member is not None:
                if tag_member not in names:
                    raise ModelError(f"union_tags: {t.name} has no member {tag_member}")
                s.default_tag = names.index(tag_member)
            if fields[s.default_tag].kind == "unsupported":
                raise ModelError(f"union_tags: {t.name} needs a default member the wire can carry")
        return s

    @staticmethod
    def in_partial(f: Field) -> bool:
        if f.kind in ("stype", "pnext", "handle", "struct"):
            return True
        if f.kind == "scalar":
            return bool(f.count_for)
        if f.kind == "fixed":
            return f.elem.cat in ("struct", "handle")
        if f.kind in ("array", "ptr"):
            return True
        return False  # unions, strings

    # -- the whole model -----------------------------------------------------------------------------
    def build(self) -> Model:
        r, p = self.r, self.p
        scope_types, scope_commands, exts = self.scope()

        # Every command with an id: resolve the name the registry has.
        commands: list[Command] = []
        wanted_types: set[str] = set()
        for cid in sorted(p.command_ids):
            names = p.command_ids[cid]
            found = None
            for n in names:
                if n in r.commands:
                    found = n
                    break
            self.cov.ids += 1
            if found is None:
                self.cov.commands_missing.append(names[0])
                continue
            canon = r.canonical_command(found)
            # A command is in scope when the registry name or its canonical name is required.
            aliases = {found, canon} | {n for n, c in r.commands.items() if c.alias == canon}
            if not (aliases & scope_commands):
                self.cov.commands_unsupported[names[0]] = "not required by any in-scope version or extension"
                continue
            rc = r.commands[canon]
            blocked = any(n in p.blocked_commands for n in names)
            try:
                siblings = {m.decl.name: m.decl for m in rc.params}
                params = [self.field_of(found, m, siblings, is_param=True, first_param=(i == 0))
                          for i, m in enumerate(rc.params)]
                if rc.result not in ("void", "VkResult", "uint32_t", "uint64_t", "VkDeviceAddress",
                                     "VkDeviceSize", "VkBool32"):
                    raise Unsupported(f"returns {rc.result}")
            except Unsupported as e:
                if blocked:
                    params, blocked_reason = [], str(e)
                else:
                    self.cov.commands_unsupported[names[0]] = str(e)
                    continue
            by_name = {f.name: f for f in params}
            for f in params:
                if f.len_simple and f.len_simple in by_name:
                    by_name[f.len_simple].count_for.append(f.name)
            cmd = Command(id=cid, name=names[0], registry_name=found, names=names, params=params,
                          result=rc.result or "void",
                          private=rc.private, blocked=blocked,
                          paths=p.private_commands.get(canon, {}).get("paths", "both"))
            first = params[0].elem.type if params and params[0].kind == "handle" else None
            if not rc.private:
                cmd.providers = entry_points.providers(r, canon)
            cmd.handwritten = any(n in p.executor_handwritten for n in names)
            cmd.device_call = any(n in p.executor_passthrough for n in names)
            if cmd.device_call and (
                    not params or params[0].kind != "handle" or
                    params[0].elem.type not in ("VkDevice", "VkCommandBuffer") or
                    any(f.output and f.elem and f.elem.cat == "handle" for f in params)):
                raise ModelError(f"[executor_passthrough] {found}: not a plain call on a device "
                                 "or command buffer")
            cmd.level = ("instance" if first in ("VkInstance", "VkPhysicalDevice") else
                         "device" if first in ("VkDevice", "VkQueue", "VkCommandBuffer") else "global")
            cmd.creates = [f for f in params if f.output and f.elem and f.elem.cat == "handle"]
            short = canon[2:]
            cmd.creates_new = short.startswith(("Create", "Allocate"))
            if short.startswith(("Destroy", "Free")):
                handles = [f for f in params if f.elem and f.elem.cat == "handle" and not f.output]
                cmd.destroys = handles[-1] if handles else None
            commands.append(cmd)
            for f in params:
                if f.elem and f.elem.cat in ("struct", "union"):
                    wanted_types.add(f.elem.type)

        # Structs: everything the in-scope versions and extensions require, plus what commands use.
        structs: dict[str, Struct] = {}
        pending = {r.canonical_type(t) for t in scope_types | wanted_types}
        failed: dict[str, str] = {}
        while pending:
            name = pending.pop()
            t = r.types.get(name)
            if t is None or t.category not in ("struct", "union") or name in structs or name in failed:
                continue
            try:
                s = self.build_struct(t)
            except Unsupported as e:
                failed[name] = str(e)
                continue
            structs[name] = s
            for f in s.fields:
                if f.elem and f.elem.cat in ("struct", "union"):
                    pending.add(r.canonical_type(f.elem.type))

        # Unsupported propagates: a struct holding an unsupported struct cannot be encoded either.
        changed = True
        while changed:
            changed = False
            for name in list(structs):
                for f in structs[name].fields:
                    if f.elem and f.elem.cat in ("struct", "union"):
                        inner = r.canonical_type(f.elem.type)
                        if inner not in structs and structs[name].is_union:
                            f.kind, f.elem = "unsupported", None
                            continue
                        if inner not in structs:
                            failed[name] = f"uses {inner}: " + failed.get(inner, "not in scope")
                            del structs[name]
                            changed = True
                            break
        kept = []
        for c in commands:
            bad = None
            for f in c.params:
                if f.elem and f.elem.cat in ("struct", "union") and \
                        r.canonical_type(f.elem.type) not in structs:
                    bad = f"uses {f.elem.type}: " + failed.get(r.canonical_type(f.elem.type), "not in scope")
            if bad and not c.blocked:
                self.cov.commands_unsupported[c.names[0]] = bad
                continue
            if bad:
                c.params = []
            kept.append(c)
        commands = kept

        self._classify_ranges(commands, structs)

        # pNext extension sets (only structs we can encode are accepted in a chain).
        for s in structs.values():
            if not s.has_pnext:
                continue
            exts_of = []
            for o in structs.values():
                t = r.types[o.name]
                targets = {r.canonical_type(x) for x in t.structextends}
                if s.name in targets and o.stype:
                    exts_of.append(o.name)
            s.extensions = sorted(exts_of)

        self._struct_origins(structs, exts)
        self._decodable_extensions(exts, commands, structs, failed)

        # Partial (output) variants: closure from the output params of commands.
        pending_out = []
        for c in commands:
            for f in c.params:
                if f.output and f.elem and f.elem.cat in ("struct", "union"):
                    pending_out.append(r.canonical_type(f.elem.type))
        while pending_out:
            name = pending_out.pop()
            s = structs.get(name)
            if s is None or s.partial:
                continue
            s.partial = True
            pending_out.extend(s.extensions)
            for f in s.fields:
                if f.elem and f.elem.cat in ("struct", "union"):
                    pending_out.append(r.canonical_type(f.elem.type))

        # Minimum wire sizes (for refusing counts the stream cannot back).
        memo: dict[tuple[str, bool], int] = {}

        def min_size(name: str, partial: bool) -> int:
            key = (name, partial)
            if key in memo:
                return memo[key]
            memo[key] = 0
            s = structs[name]
            if s.is_union:
                total = 0 if partial else 4 + min(field_min(f, False) for f in s.fields
                                                  if f.kind != "unsupported")
            else:
                total = sum(field_min(f, partial) for f in s.fields if not partial or f.in_partial)
            memo[key] = total
            return total

        def field_min(f: Field, partial: bool) -> int:
            if f.kind == "stype":
                return 4
            if f.kind in ("pnext", "allocator", "ptr", "array", "string", "strings"):
                return 8
            if f.kind == "handle":
                return 8
            if f.kind == "scalar":
                return f.elem.width
            if f.kind in ("struct", "union"):
                return min_size(r.canonical_type(f.elem.type), partial)
            if f.kind == "fixed":
                return 8
            return 0

        for s in structs.values():
            s.min_wire = min_size(s.name, False)
            s.min_wire_partial = min_size(s.name, True) if s.partial else 0

        flat: dict[str, bool] = {}

        def words32(name: str) -> bool:
            if name not in flat:
                s = structs[name]
                flat[name] = not s.is_union and bool(s.fields) and all(
                    (f.kind == "scalar" and f.elem.op in ("u32", "i32", "f32")) or
                    (f.kind == "struct" and words32(r.canonical_type(f.elem.type)))
                    for f in s.fields)
            return flat[name]

        for s in structs.values():
            s.words32 = words32(s.name)

        self.cov.commands_generated = sum(1 for c in commands if not c.blocked)
        self.cov.commands_blocked = sum(1 for c in commands if c.blocked)
        self.cov.structs_generated = len(structs)
        self.cov.structs_unsupported = {k: v for k, v in sorted(failed.items())
                                        if k in scope_types or k in wanted_types}
        handles = {n: t for n, t in r.types.items()
                   if t.category == "handle" and not t.alias and t.objtypeenum}
        max_pnext = max([len(s.extensions) for s in structs.values()] + [1])
        core = self.core_features()
        newest = max(core_version_of(n) for n in core)
        version = r.header_version_complete
        covered = version if version[:2] <= newest else (newest[0], newest[1], 0)
        return Model(r, p, structs, commands, exts, handles,
                     self._private_order(structs), self.cov,
                     r.header_version_complete, max_pnext, sorted(core),
                     list(self.core_out_of_scope), covered, self.core_versions)


MAX_CORE_VERSION = (1, 4)

# Types core lists that no command carries: a pAllocator always travels as NULL (an "allocator"
# field) and the base structures only describe how pNext chains are walked.
_NEVER_ON_THE_WIRE = {"VkAllocationCallbacks", "VkBaseInStructure", "VkBaseOutStructure"}

# What makes a command name memory the driver trusts (see Command.ranges).
RANGE_HANDLES = {"VkBuffer", "VkImage", "VkBufferView", "VkImageView", "VkQueryPool",
                 "VkDeviceMemory", "VkPipelineLayout", "VkAccelerationStructureKHR",
                 "VkAccelerationStructureNV", "VkMicromapEXT", "VkIndirectCommandsLayoutEXT",
                 "VkIndirectExecutionSetEXT", "VkTensorARM"}
RANGE_SCALARS = {"VkDeviceAddress", "VkDeviceSize"}
RANGE_NAME = re.compile(r"offset|size|count|stride|first|index", re.I)
_CORE_RE = re.compile(r"VK_(?:(?:BASE|COMPUTE|GRAPHICS)_)?VERSION_(\d+)_(\d+)")


def core_version_of(feature: str) -> tuple[int, int] | None:
    m = _CORE_RE.fullmatch(feature)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _version_order(name: str) -> tuple[int, int]:
    major, minor = name.removeprefix("VK_VERSION_").split("_")
    return int(major), int(minor)


def build(r: reg.Registry, p: Protocol) -> Model:
    return Builder(r, p).build()
