"""Turns the model into C++ files with Jinja2 templates."""
from __future__ import annotations

import os

import jinja2

from .cdecl import parse_decl
from .model import Model

STRUCT_PARTS = 6  # struct codecs are split so two cores can compile them in parallel


def outputs() -> list[str]:
    files = ["vn_protocol.gen.h", "vn_structs_internal.gen.h", "vn_commands.gen.cpp",
             "vn_info.gen.cpp", "vn_fill.gen.h", "vn_fill.gen.cpp", "vn_dispatch.gen.h",
             "vn_dispatch.gen.cpp", "vn_vulkan.gen.h", "vn_vulkan.gen.cpp", "vn_passthrough.gen.h",
             "vn_passthrough.gen.cpp", "vn_capset.gen.h", "vn_coverage.txt"]
    files += [f"vn_structs_{i}.gen.cpp" for i in range(STRUCT_PARTS)]
    return files


def _env() -> jinja2.Environment:
    here = os.path.join(os.path.dirname(__file__), "templates")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(here), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False)
    env.globals["field_runs"] = field_runs
    return env


# Wire bytes of the scalars a run of fixed-size fields may hold (Reader::take).
_RUN_SCALARS = {"u32": 4, "i32": 4, "f32": 4, "slot": 4, "enum": 4, "uenum": 4,
                "u64": 8, "i64": 8, "f64": 8}


def field_runs(fields, mode: str) -> list[tuple]:
    """Groups a struct's or command's fields for decoding: ("run", [(field, offset)], bytes) for two
    or more consecutive fixed-size fields (scalars and input handles, full form), which decode
    with one bound check, and ("one", field, mode) for every other field. `mode` is 'full' or
    'partial' for a struct's fields, 'args' for a command's (its outputs decode partially)."""
    mode_of = mode
    out: list[tuple] = []
    run: list[tuple] = []
    size = 0

    def close():
        nonlocal size
        if len(run) >= 2:
            out.append(("run", list(run), size))
        else:
            out.extend(("one", f, "full") for f, _ in run)
        run.clear()
        size = 0

    for f in fields:
        mode = ("partial" if f.output else "full") if mode_of == "args" else mode_of
        width = 0
        if mode == "full" and not f.output:
            if f.kind == "scalar" and f.elem.op in _RUN_SCALARS:
                width = _RUN_SCALARS[f.elem.op]
            elif f.kind == "handle":
                width = 8
        if width:
            run.append((f, size))
            size += width
        else:
            close()
            out.append(("one", f, mode))
    close()
    return out


def _private_members(model: Model) -> dict[str, list[str]]:
    out = {}
    for name in model.private_structs:
        members = []
        for text in model.protocol.private_structs[name]["members"]:
            d = parse_decl(text)
            t = ("const " if d.const else "") + d.type + "*" * d.ptr
            members.append(f"{t} {d.name}")
        out[name] = members
    return out


def coverage_text(model: Model) -> str:
    c = model.coverage
    lines = [
        f"vk.xml: Vulkan {'.'.join(map(str, model.vk_xml_version))}",
        f"command ids: {c.ids}",
        f"commands generated: {c.commands_generated} (+{c.commands_blocked} blocked: decoded as fatal)",
        f"commands not in this vk.xml: {len(c.commands_missing)}",
        f"commands not serializable: {len(c.commands_unsupported)}",
        f"structs and unions generated: {c.structs_generated} "
        f"({sum(1 for s in model.structs.values() if s.partial)} with output variants)",
        f"structs not serializable: {len(c.structs_unsupported)}",
        f"protocol extensions covered: {c.extensions_in_registry} of {len(model.extensions)}",
        f"protocol extensions fully decodable (may be exposed): "
        f"{sum(1 for e in model.extensions if e.undecodable is None)}",
        f"core versions in scope: {', '.join(sorted(model.core_features))}",
        f"core versions not in scope: {', '.join(model.core_out_of_scope) or 'none'}",
        f"capset vk_xml_version: {'.'.join(map(str, model.covered_version))}",
        "",
        "not in this vk.xml: " + ", ".join(c.commands_missing),
        "",
        "commands not serializable:",
    ]
    lines += [f"  {k}: {v}" for k, v in sorted(c.commands_unsupported.items())]
    lines += ["", "structs not serializable:"]
    lines += [f"  {k}: {v}" for k, v in sorted(c.structs_unsupported.items())]
    lines += ["", "extensions the vk.xml does not define: " + ", ".join(c.extensions_missing)]
    lines += ["", "protocol extensions the codec cannot fully carry (never exposed):"]
    lines += [f"  {e.name}: {e.undecodable}" for e in sorted(model.extensions, key=lambda e: e.name)
              if e.in_registry and e.undecodable]
    lines += ["", "core versions (the executor offers the newest whose commands, and every older "
              "version's, it all runs):"]
    for v in model.core_versions:
        state = "decodable" if v.undecodable is None else f"NOT decodable: {v.undecodable}"
        lines.append(f"  {v.major}.{v.minor}: {len(v.command_ids)} commands, {state}")
    lines += ["", "commands that name memory the driver trusts (buffers, images, query pools, offsets,",
              "sizes, counts, device addresses), and what keeps each in bounds:"]
    for cmd in sorted(model.commands, key=lambda x: x.name):
        if cmd.ranges:
            lines.append(f"  {cmd.name}: {cmd.range_rule}")
            lines.append(f"    names: {', '.join(cmd.ranges)}")
    return "\n".join(lines) + "\n"


CAPSET_MASK_WORDS = 32  # struct virgl_renderer_capset_venus: vk_extension_mask1[32]


def capset(model: Model) -> dict:
    """The Venus capset fields that follow from the protocol table. A mask bit says "the wire
    protocol can encode this extension": every extension the vk.xml in use lets the codec cover,
    plus the two private ones the protocol table itself defines. Bit 0 marks the mask as valid."""
    raw = model.protocol.raw["protocol"]
    private = {model.protocol.mesa_extension_number,
               int(raw["command_serialization_extension_number"])}
    words = [0] * CAPSET_MASK_WORDS
    words[0] |= 1
    spec = {}
    encodable = []
    for e in sorted(model.extensions, key=lambda e: e.number):
        if not (e.in_registry or e.number in private):
            continue
        if e.number >= 32 * CAPSET_MASK_WORDS:
            raise ValueError(f"{e.name}: extension number {e.number} does not fit the capset mask")
        words[e.number // 32] |= 1 << (e.number % 32)
        encodable.append(e)
        spec[e.number] = e.spec_version
    major, minor, patch = model.covered_version
    return dict(mask=words, encodable=encodable, vk_xml_version=(major << 22) | (minor << 12) | patch,
                command_serialization_spec=spec.get(int(raw["command_serialization_extension_number"]), 0),
                venus_protocol_spec=spec.get(model.protocol.mesa_extension_number, 0))


def reindent(text: str) -> str:
    """Indents generated C++ by brace depth and drops repeated blank lines. Templates then need
    not track indentation across macro calls, and the output reads like hand-written code."""
    out: list[str] = []
    depth = 0
    in_macro = False
    blank = False
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            if not blank and out:
                out.append("")
            blank = True
            continue
        blank = False
        if in_macro or line.startswith("#"):
            out.append(raw.rstrip())
            in_macro = line.endswith("\\")
            continue
        if line.startswith("}"):
            depth = max(0, depth - 1)
        is_label = line.startswith(("case ", "default:")) or line in ("public:", "protected:", "private:")
        indent = max(0, depth - 1) if is_label else depth
        out.append("    " * indent + line)
        opened = line.count("{") - line.count("}")
        if line.startswith("}"):
            opened += 1
        if line.startswith("namespace ") or line.startswith("} // namespace"):
            opened = 0  # namespace bodies are not indented
        depth = max(0, depth + opened)
    return "\n".join(out).rstrip("\n") + "\n"


def render(model: Model, vk_xml_name: str) -> dict[str, str]:
    env = _env()
    structs = model.struct_list
    ctx = dict(model=model, protocol=model.protocol, cov=model.coverage, vk_xml_name=vk_xml_name,
               private_stypes=_private_stype_values(model),
               private_struct_order=model.private_structs,
               private_members=_private_members(model),
               id_count=max(model.protocol.command_ids) + 1,
               commands_by_id={c.id: c for c in model.commands},
               passthrough=[c for c in model.commands if c.passthrough],
               recorded=[c for c in model.commands
                         if c.plain_command and (c.passthrough or c.handwritten)],
               creates=[c for c in model.commands if c.generated_create],
               device_calls=[c for c in model.commands if c.device_call],
               destroys=[c for c in model.commands if c.generated_destroy],
               all_destroys=[c for c in model.commands if c.simple_destroy],
               a_handle="a.")
    out = {
        "vn_protocol.gen.h": env.get_template("vn_protocol.gen.h.j2").render(**ctx),
        "vn_structs_internal.gen.h": env.get_template("vn_structs_internal.gen.h.j2").render(**ctx),
        "vn_commands.gen.cpp": env.get_template("vn_commands.gen.cpp.j2").render(**ctx),
        "vn_info.gen.cpp": env.get_template("vn_info.gen.cpp.j2").render(**ctx),
        "vn_fill.gen.h": env.get_template("vn_fill.gen.h.j2").render(**ctx),
        "vn_fill.gen.cpp": env.get_template("vn_fill.gen.cpp.j2").render(**ctx),
        "vn_dispatch.gen.h": env.get_template("vn_dispatch.gen.h.j2").render(**ctx),
        "vn_dispatch.gen.cpp": env.get_template("vn_dispatch.gen.cpp.j2").render(**ctx),
        "vn_vulkan.gen.h": env.get_template("vn_vulkan.gen.h.j2").render(**ctx),
        "vn_vulkan.gen.cpp": env.get_template("vn_vulkan.gen.cpp.j2").render(**ctx),
        "vn_passthrough.gen.h": env.get_template("vn_passthrough.gen.h.j2").render(**ctx),
        "vn_passthrough.gen.cpp": env.get_template("vn_passthrough.gen.cpp.j2").render(**ctx),
        "vn_capset.gen.h": env.get_template("vn_capset.gen.h.j2").render(capset=capset(model), **ctx),
        "vn_coverage.txt": coverage_text(model),
    }
    tpl = env.get_template("vn_structs.gen.cpp.j2")
    for i in range(STRUCT_PARTS):
        part = structs[i::STRUCT_PARTS]
        out[f"vn_structs_{i}.gen.cpp"] = tpl.render(structs=part, part=i + 1, parts=STRUCT_PARTS, **ctx)
    return {name: (reindent(text) if ".gen." in name else text) for name, text in out.items()}


def _private_stype_values(model: Model) -> dict[str, int]:
    base = 1000000000 + (model.protocol.mesa_extension_number - 1) * 1000
    return {k: base + v for k, v in model.protocol.private_stypes.items()}
