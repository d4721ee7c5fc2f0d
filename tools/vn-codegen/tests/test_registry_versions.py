"""What newer registries changed: `depends` expressions with runtime features, core split into
VK_BASE/COMPUTE/GRAPHICS_VERSION_*, Vulkan 1.4; and what the model does with what it cannot carry
(extensions never exposed, commands without a range rule never executed)."""
import os
import textwrap

import pytest

from vn_codegen import depends, model, protocol, registry
from vn_codegen.__main__ import main

from conftest import TOML, VK_XML


def test_depends_and_or_parentheses():
    e = depends.parse("VK_KHR_a+VK_KHR_b,VK_VERSION_1_1")
    # `+` and `,` have the same precedence and group from the left, as the registry's parser.
    assert e == depends.Op(",", depends.Op("+", depends.Name("VK_KHR_a"), depends.Name("VK_KHR_b")),
                           depends.Name("VK_VERSION_1_1"))
    e = depends.parse("VK_KHR_a,VK_KHR_b+VK_KHR_c")
    assert e == depends.Op("+", depends.Op(",", depends.Name("VK_KHR_a"), depends.Name("VK_KHR_b")),
                           depends.Name("VK_KHR_c"))
    e = depends.parse("((VK_KHR_x,VK_KHR_y)+(VK_KHR_z,VK_VERSION_1_2),VK_VERSION_1_4)")
    have = {"VK_KHR_y", "VK_VERSION_1_2"}
    assert depends.evaluate(e, have.__contains__, lambda s, m: False)
    assert not depends.evaluate(e, {"VK_KHR_y"}.__contains__, lambda s, m: False)
    assert depends.names(e) == {"VK_KHR_x", "VK_KHR_y", "VK_KHR_z", "VK_VERSION_1_2",
                                "VK_VERSION_1_4"}


def test_depends_runtime_feature_terms():
    e = depends.parse("VK_VERSION_1_2+VkPhysicalDeviceVulkan12Features::descriptorIndexing")
    assert depends.features(e) == {("VkPhysicalDeviceVulkan12Features", "descriptorIndexing")}
    seen = []
    assert depends.evaluate(e, lambda n: True, lambda s, m: seen.append((s, m)) or True)
    assert seen == [("VkPhysicalDeviceVulkan12Features", "descriptorIndexing")]


@pytest.mark.parametrize("text", ["", "VK_KHR_a+", "(VK_KHR_a", "VK_KHR_a)", "VK_KHR_a VK_KHR_b",
                                  "!VK_KHR_a", "VK_KHR_a|VK_KHR_b", "False::False::x", "+VK_KHR_a",
                                  "__import__('os')"])
def test_depends_refuses_what_it_does_not_know(text):
    with pytest.raises(depends.DependsError):
        depends.parse(text)


def test_core_version_names():
    assert model.core_version_of("VK_VERSION_1_4") == (1, 4)
    assert model.core_version_of("VK_BASE_VERSION_1_0") == (1, 0)
    assert model.core_version_of("VK_GRAPHICS_VERSION_1_3") == (1, 3)
    assert model.core_version_of("VKSC_VERSION_1_0") is None
    assert model.core_version_of("VK_FOO_VERSION_1_0") is None


# A registry in the shape of vk.xml >= 1.4.330: core 1.0 commands live in the split features only.
SPLIT_XML = textwrap.dedent("""\
    <registry>
      <types>
        <type category="define">#define <name>VK_HEADER_VERSION</name> 400</type>
        <type category="define">#define <name>VK_HEADER_VERSION_COMPLETE</name> VK_MAKE_API_VERSION(0, 1, 4, VK_HEADER_VERSION)</type>
        <type category="basetype">typedef <type>uint32_t</type> <name>VkBool32</name>;</type>
        <type category="handle" objtypeenum="VK_OBJECT_TYPE_INSTANCE"><type>VK_DEFINE_HANDLE</type>(<name>VkInstance</name>)</type>
        <type category="enum" name="VkResult"/>
        <type category="enum" name="VkStructureType"/>
        <type category="struct" name="VkPhysicalDeviceFooFeatures" structextends="VkPhysicalDeviceFeatures2">
          <member values="VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FOO_FEATURES"><type>VkStructureType</type> <name>sType</name></member>
          <member optional="true"><type>void</type>* <name>pNext</name></member>
          <member><type>VkBool32</type> <name>foo</name></member>
        </type>
      </types>
      <enums name="VkResult" type="enum"><enum value="0" name="VK_SUCCESS"/></enums>
      <enums name="VkStructureType" type="enum"><enum value="1" name="VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FOO_FEATURES"/></enums>
      <commands>
        <command><proto><type>void</type> <name>vkDestroyInstance</name></proto>
          <param optional="true"><type>VkInstance</type> <name>instance</name></param></command>
        <command><proto><type>VkResult</type> <name>vkEnumerateInstanceVersion</name></proto>
          <param><type>uint32_t</type>* <name>pApiVersion</name></param></command>
      </commands>
      <feature api="vulkan" apitype="internal" name="VK_BASE_VERSION_1_0" number="1.0">
        <require><command name="vkDestroyInstance"/></require>
      </feature>
      <feature api="vulkan" name="VK_VERSION_1_0" number="1.0" depends="VK_BASE_VERSION_1_0"/>
      <feature api="vulkan" apitype="internal" name="VK_BASE_VERSION_1_1" number="1.1" depends="VK_BASE_VERSION_1_0">
        <require><command name="vkEnumerateInstanceVersion"/></require>
        <require depends="VkPhysicalDeviceFooFeatures::foo"><feature name="foo" struct="VkPhysicalDeviceFooFeatures"/></require>
      </feature>
      <feature api="vulkan" name="VK_VERSION_1_1" number="1.1" depends="VK_VERSION_1_0+VK_BASE_VERSION_1_1">
        <require><type name="VkPhysicalDeviceFooFeatures"/></require>
      </feature>
      @@EXTRA@@
      <extensions/>
    </registry>
    """)

MINI_TOML = textwrap.dedent("""\
    [protocol]
    wire_format_version = 1
    mesa_extension_number = 385
    command_serialization_extension_number = 384
    [command_ids]
    1 = "vkDestroyInstance"
    137 = "vkEnumerateInstanceVersion"
    [extensions]
    """)


def build_mini(tmp_path, feature=""):
    xml = tmp_path / "vk.xml"
    xml.write_text(SPLIT_XML.replace("@@EXTRA@@", feature))
    toml = tmp_path / "p.toml"
    toml.write_text(MINI_TOML)
    return model.build(registry.load(str(xml)), protocol.load(str(toml))), str(xml), str(toml)


def test_split_core_versions_keep_every_command(tmp_path):
    m, _, _ = build_mini(tmp_path)
    assert {c.name for c in m.commands} == {"vkDestroyInstance", "vkEnumerateInstanceVersion"}
    assert "VkPhysicalDeviceFooFeatures" in m.structs
    # The header says 1.4, but the registry's core stops at 1.1: the capset says so too.
    assert m.covered_version == (1, 1, 0)


def test_unknown_feature_fails_with_a_message(tmp_path, capsys):
    feature = '<feature api="vulkan" name="VK_RAYTRACE_VERSION_1_0" number="1.0"/>'
    xml = tmp_path / "vk.xml"
    xml.write_text(SPLIT_XML.replace("@@EXTRA@@", feature))
    toml = tmp_path / "p.toml"
    toml.write_text(MINI_TOML)
    rc = main(["--vk-xml", str(xml), "--protocol", str(toml), "--out", str(tmp_path / "out")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "VK_RAYTRACE_VERSION_1_0" in err and "does not know" in err


def test_newer_core_version_is_reported_not_claimed(tmp_path):
    m, _, _ = build_mini(tmp_path, '<feature api="vulkan" name="VK_VERSION_1_5" number="1.5" '
                                   'depends="VK_VERSION_1_1"/>')
    assert m.core_out_of_scope == ["VK_VERSION_1_5"]
    assert m.covered_version == (1, 1, 0)


def test_broken_registry_is_an_error_not_a_crash(tmp_path, capsys):
    xml = tmp_path / "vk.xml"
    xml.write_text(SPLIT_XML.replace("@@EXTRA@@", "").replace('depends="VK_BASE_VERSION_1_0"/>',
                                                            'depends="VK_BASE_VERSION_1_0+"/>'))
    rc = main(["--vk-xml", str(xml), "--protocol", TOML, "--out", str(tmp_path / "out")])
    assert rc == 1
    assert "vn-codegen: error:" in capsys.readouterr().err


# -- on the registry the build uses -------------------------------------------------------------

def ext(built, name):
    return next(e for e in built.extensions if e.name == name)


def test_ray_tracing_is_never_decodable(built):
    for name in ("VK_KHR_acceleration_structure", "VK_KHR_ray_tracing_pipeline",
                 "VK_KHR_ray_query", "VK_KHR_ray_tracing_maintenance1"):
        e = ext(built, name)
        if e.in_registry:
            assert e.undecodable, name


def test_extension_commands_are_listed_for_the_executor(built):
    e = ext(built, "VK_EXT_transform_feedback")
    ids = {c.id: c for c in built.commands}
    assert e.undecodable is None and e.command_ids
    assert "vkCmdBindTransformFeedbackBuffersEXT" in {ids[i].name for i in e.command_ids}
    assert ext(built, "VK_KHR_external_semaphore_fd").undecodable is None  # the guest's own


def test_range_commands_need_a_rule(built):
    cmds = {c.name: c for c in built.commands}
    # Hand-written checks.
    for n in ("vkCmdBindIndexBuffer", "vkCmdPushConstants", "vkCmdSetViewport", "vkCmdFillBuffer"):
        assert cmds[n].ranges and cmds[n].handwritten and not cmds[n].passthrough, n
    # Dynamic state is stored in the driver's fixed arrays: a count that only sizes a decoded
    # array is a range there.
    assert cmds["vkCmdSetViewportWithCount"].ranges == ["viewportCount"]
    assert cmds["vkCmdSetViewportWithCount"].handwritten
    assert not cmds["vkCmdBindVertexBuffers"].ranges or cmds["vkCmdBindVertexBuffers"].handwritten
    # Reviewed exemptions stay plain calls.
    assert cmds["vkCmdDraw"].exemption and cmds["vkCmdDraw"].passthrough
    # Nothing: not executed at all.
    t = cmds["vkCmdSetSampleLocationsEXT"]
    assert t.ranges and not t.handwritten and t.exemption is None and not t.passthrough
    # Transform feedback has its rules now (transform_feedback.cpp).
    tf = cmds["vkCmdBindTransformFeedbackBuffersEXT"]
    assert tf.ranges and tf.handwritten and not tf.passthrough
    # A command naming no range is a plain call.
    assert not cmds["vkCmdSetLineWidth"].ranges and cmds["vkCmdSetLineWidth"].passthrough


def test_new_commands_get_the_rules_of_their_originals(built):
    cmds = {c.id: c for c in built.commands}
    for cid in (279, 289, 290, 291):  # BindIndexBuffer2, BindDescriptorSets2, PushConstants2, PushDescriptorSet2
        if cid in cmds:
            assert cmds[cid].handwritten and not cmds[cid].passthrough


def test_stale_or_missing_exemption_is_an_error():
    p = protocol.load(TOML)
    p.reviewed_passthrough["vkCmdSetLineWidth"] = "names nothing"
    with pytest.raises(model.ModelError, match="stale"):
        model.build(registry.load(VK_XML), p)
    p = protocol.load(TOML)
    p.executor_passthrough.append("vkGetDeviceGroupPeerMemoryFeatures")
    with pytest.raises(model.ModelError, match="range rule"):
        model.build(registry.load(VK_XML), p)


@pytest.mark.skipif(not os.environ.get("VN_EXTRA_VK_XML"), reason="VN_EXTRA_VK_XML not set")
@pytest.mark.parametrize("path", os.environ.get("VN_EXTRA_VK_XML", "").split(":"))
def test_other_registries_build(path):
    m = model.build(registry.load(path), protocol.load(TOML))
    assert m.coverage.commands_generated >= 290
    assert not m.coverage.commands_missing or m.vk_xml_version < (1, 4, 0)
