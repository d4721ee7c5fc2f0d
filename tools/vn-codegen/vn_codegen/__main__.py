"""Command line: python3 -m vn_codegen --vk-xml vk.xml --protocol venus-protocol.toml --out DIR

--print-outputs and --print-inputs let CMake know the file lists without duplicating them.
Files are written only when their content changed, so an unchanged input rebuilds nothing.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys

from . import model as model_mod
from . import protocol, registry, render


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vn-codegen")
    ap.add_argument("--vk-xml", required=False)
    ap.add_argument("--protocol", required=False)
    ap.add_argument("--out")
    ap.add_argument("--print-outputs", action="store_true")
    ap.add_argument("--print-inputs", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    if args.print_outputs:
        print(";".join(render.outputs()))
        return 0
    if args.print_inputs:
        here = os.path.dirname(os.path.abspath(__file__))
        files = sorted(glob.glob(os.path.join(here, "*.py")) +
                       glob.glob(os.path.join(here, "templates", "*.j2")))
        print(";".join(files))
        return 0
    if not (args.vk_xml and args.protocol and args.out):
        ap.error("--vk-xml, --protocol and --out are required")

    try:
        r = registry.load(args.vk_xml)
        p = protocol.load(args.protocol)
        m = model_mod.build(r, p)
    except (model_mod.ModelError, protocol.ProtocolError, ValueError) as e:
        print(f"vn-codegen: error: {args.vk_xml}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - a construct the reader does not know: say so, no trace
        print(f"vn-codegen: error: {args.vk_xml}: cannot read this registry "
              f"({type(e).__name__}: {e}); the generator does not understand one of its "
              "constructs", file=sys.stderr)
        return 1
    files = render.render(m, os.path.basename(args.vk_xml))
    os.makedirs(args.out, exist_ok=True)
    for name, text in files.items():
        path = os.path.join(args.out, name)
        try:
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    continue
        except FileNotFoundError:
            pass
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    if not args.quiet:
        c = m.coverage
        decodable = sum(1 for e in m.extensions if e.undecodable is None)
        unruled = sum(1 for x in m.commands if x.ranges and not x.handwritten and x.exemption is None)
        print(f"vn-codegen: {c.commands_generated} commands (+{c.commands_blocked} blocked) of "
              f"{c.ids} ids, {c.structs_generated} structs, {c.extensions_in_registry}/"
              f"{len(m.extensions)} extensions ({decodable} fully decodable) from Vulkan "
              f"{'.'.join(map(str, m.vk_xml_version))}; core up to "
              f"{'.'.join(map(str, max(map(model_mod.core_version_of, m.core_features))))}; {unruled} commands without "
              "a range rule (not executed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
