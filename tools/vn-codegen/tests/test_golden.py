"""Golden output: a few generated functions are kept in tests/codegen/golden so that a change to
the generator shows up in review as a diff of the C++ it writes. Regenerate after an intended
change with:  /usr/bin/python3 -m pytest tools/vn-codegen/tests/test_golden.py --update-golden
"""
import os
import re

import pytest

from vn_codegen import render

from conftest import ROOT

GOLDEN_DIR = os.path.join(ROOT, "tests", "codegen", "golden")

# (golden file, generated file, section markers to extract)
CASES = [
    ("vkCreateBuffer.cpp.txt", "vn_commands.gen.cpp", ["// ---- vkCreateBuffer (50) ----"]),
    ("vkCmdPushConstants.cpp.txt", "vn_commands.gen.cpp", ["// ---- vkCmdPushConstants (132) ----"]),
    # VkRect2D holds only 32-bit words: the array decodes as one bounded copy.
    ("vkCmdSetScissor.cpp.txt", "vn_commands.gen.cpp", ["// ---- vkCmdSetScissor (95) ----"]),
    ("vkEnumeratePhysicalDevices.cpp.txt", "vn_commands.gen.cpp",
     ["// ---- vkEnumeratePhysicalDevices (2) ----"]),
    ("VkBufferCreateInfo.cpp.txt", None, ["// ---- VkBufferCreateInfo ----"]),
    ("VkClearColorValue.cpp.txt", None, ["// ---- VkClearColorValue ----"]),
    ("VkRingCreateInfoMESA.cpp.txt", None, ["// ---- VkRingCreateInfoMESA ----"]),
    # A recorded command's driver call goes through record(), which may queue it.
    ("vkCmdPipelineBarrier.passthrough.cpp.txt", "vn_passthrough.gen.cpp",
     ["// ---- vkCmdPipelineBarrier (passthrough) ----"]),
]


def section(text, marker):
    start = text.index(marker)
    nxt = re.search(r"^// ---- ", text[start + len(marker):], re.M)
    end = start + len(marker) + nxt.start() if nxt else len(text)
    return text[start:end].rstrip() + "\n"


@pytest.fixture(scope="module")
def generated(built):
    return render.render(built, "vk.xml")


# The copies are of what Debian 12's registry yields; other registries add pNext cases.
GOLDEN_VK_XML = (1, 3, 239)


@pytest.mark.parametrize("golden,source,markers", CASES)
def test_generated_code_matches_golden(built, generated, request, golden, source, markers):
    if built.vk_xml_version != GOLDEN_VK_XML:
        pytest.skip(f"golden copies are of vk.xml {GOLDEN_VK_XML}, this is {built.vk_xml_version}")
    sources = [source] if source else [n for n in generated if n.startswith("vn_structs_")]
    text = None
    for marker in markers:
        for name in sources:
            if marker in generated[name]:
                text = section(generated[name], marker)
    assert text is not None, f"{markers} not generated"
    path = os.path.join(GOLDEN_DIR, golden)
    if request.config.getoption("--update-golden"):
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert f.read() == text, f"generated code differs from {path}; rerun with --update-golden"
