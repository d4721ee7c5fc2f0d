"""The wire rules the model derives from vk.xml, checked without reading any C++."""
import copy

import pytest

from vn_codegen import model
from vn_codegen.cdecl import parse_decl


def cmd(built, name):
    return next(c for c in built.commands if c.name == name)


def fields(obj):
    return {f.name: f for f in (obj.fields if hasattr(obj, "fields") else obj.params)}


def test_cdecl_parses_the_forms_vk_xml_uses():
    d = parse_decl("const char* const* ppEnabledExtensionNames")
    assert (d.type, d.ptr, d.const, d.const_ptr) == ("char", 2, True, True)
    d = parse_decl("uint8_t pipelineCacheUUID[VK_UUID_SIZE]")
    assert d.dims == ["VK_UUID_SIZE"]
    d = parse_decl("uint32_t mask:8")
    assert d.bitfield == 8
    d = parse_decl("const size_t* pReplyPositions {len=streamCount, optional}")
    assert d.attrs == {"len": "streamCount", "optional": "true"}


def test_command_ids_are_the_fixed_protocol_table(built):
    assert cmd(built, "vkCreateInstance").id == 0
    assert cmd(built, "vkCreateBuffer").id == 50
    assert cmd(built, "vkSetReplyCommandStreamMESA").id == 178
    assert cmd(built, "vkCreateRingMESA").id == 188
    assert cmd(built, "vkWaitRingSeqnoMESA").id == 253
    # Older registries know id 235 only by its EXT name; code names it by the protocol's name.
    assert cmd(built, "vkGetPhysicalDeviceCalibrateableTimeDomainsKHR").id == 235


def test_coverage_includes_core_and_private_commands(built):
    names = {c.name for c in built.commands}
    for n in ("vkQueueSubmit2", "vkCmdBeginRendering", "vkCmdDrawMultiEXT",
              "vkExecuteCommandStreamsMESA", "vkGetMemoryResourcePropertiesMESA"):
        assert n in names
    assert built.coverage.commands_generated >= 280
    assert built.coverage.structs_generated >= 400


def test_blocked_commands_are_generated_as_blocked(built):
    assert cmd(built, "vkMapMemory").blocked
    assert not cmd(built, "vkCreateBuffer").blocked


def test_vkCreateBuffer_wire_shape(built):
    p = fields(cmd(built, "vkCreateBuffer"))
    assert p["device"].kind == "handle" and p["device"].required
    assert p["pCreateInfo"].kind == "ptr" and p["pCreateInfo"].required
    assert p["pAllocator"].kind == "allocator"
    assert p["pBuffer"].output and p["pBuffer"].elem.cat == "handle"
    s = fields(built.structs["VkBufferCreateInfo"])
    qfi = s["pQueueFamilyIndices"]
    assert qfi.kind == "array" and qfi.len_simple == "queueFamilyIndexCount"
    assert not qfi.required  # noautovalidity: NULL with a count is accepted (EXCLUSIVE sharing)
    assert s["size"].elem.op == "u64"
    assert s["usage"].elem.op == "u32"


def test_strings_and_string_arrays(built):
    s = fields(built.structs["VkInstanceCreateInfo"])
    assert s["ppEnabledExtensionNames"].kind == "strings"
    assert s["ppEnabledExtensionNames"].required
    assert fields(built.structs["VkApplicationInfo"])["pApplicationName"].kind == "string"


def test_count_expressions(built):
    s = fields(built.structs["VkShaderModuleCreateInfo"])
    assert s["pCode"].len_expr == "{o}codeSize / 4"
    s = fields(built.structs["VkPipelineMultisampleStateCreateInfo"])
    assert s["pSampleMask"].len_expr == "({o}rasterizationSamples + 31) / 32"
    p = fields(cmd(built, "vkAllocateDescriptorSets"))
    assert p["pDescriptorSets"].len_arrow == ["pAllocateInfo", "descriptorSetCount"]
    p = fields(cmd(built, "vkEnumeratePhysicalDevices"))
    assert p["pPhysicalDevices"].len_expr == "({o}pPhysicalDeviceCount ? *{o}pPhysicalDeviceCount : 0)"
    assert p["pPhysicalDeviceCount"].count_for == ["pPhysicalDevices"]


def test_pnext_extensions_come_from_structextends(built):
    ext = built.structs["VkBufferCreateInfo"].extensions
    assert "VkExternalMemoryBufferCreateInfo" in ext
    assert "VkImageCreateInfo" not in ext
    assert "VkImportMemoryResourceInfoMESA" in built.structs["VkMemoryAllocateInfo"].extensions
    assert "VkDeviceQueueTimelineInfoMESA" in built.structs["VkDeviceQueueInfo2"].extensions


def test_chainable_structs_know_their_core_version_and_extensions(built):
    v12 = built.structs["VkPhysicalDeviceVulkan12Features"]
    assert (v12.core_version, v12.origin_extensions) == ("VK_VERSION_1_2", [])
    timeline = built.structs["VkPhysicalDeviceTimelineSemaphoreFeatures"]
    assert timeline.core_version == "VK_VERSION_1_2"
    assert timeline.origin_extensions == ["VK_KHR_timeline_semaphore"]
    r2 = built.structs["VkPhysicalDeviceRobustness2FeaturesEXT"]
    assert (r2.core_version, r2.origin_extensions) == (None, ["VK_EXT_robustness2"])
    # Structs that never sit in a chain carry no origin.
    assert built.structs["VkExtent2D"].core_version is None


def test_partial_form_of_output_structs(built):
    props = built.structs["VkPhysicalDeviceProperties"]
    assert props.partial
    f = fields(props)
    assert not f["apiVersion"].in_partial        # scalars are not sent in a request
    assert f["limits"].in_partial                 # nested structs are (they may hold handles)
    group = fields(built.structs["VkPhysicalDeviceGroupProperties"])
    assert group["physicalDevices"].in_partial    # guest-chosen ids travel in the request
    assert not group["physicalDeviceCount"].in_partial


def test_unions_take_their_default_tag_from_the_protocol(built):
    assert built.structs["VkClearColorValue"].default_tag == 2
    assert built.structs["VkClearValue"].default_tag == 0


def test_private_stypes_follow_the_extension_number(built, proto):
    assert built.structs["VkRingCreateInfoMESA"].stype == "VK_STRUCTURE_TYPE_RING_CREATE_INFO_MESA"
    base = 1000000000 + (proto.mesa_extension_number - 1) * 1000
    assert base == 1000384000


def test_unsupported_things_are_reported_with_a_reason(built):
    assert "pointer to pointers" in built.coverage.commands_unsupported["vkCmdBuildAccelerationStructuresKHR"]
    assert "bitfield" in built.coverage.structs_unsupported["VkAccelerationStructureInstanceKHR"]


def test_object_lifetimes(built):
    c = cmd(built, "vkAllocateCommandBuffers")
    assert c.creates_new and [f.name for f in c.creates] == ["pCommandBuffers"]
    assert cmd(built, "vkFreeCommandBuffers").destroys.name == "pCommandBuffers"
    assert cmd(built, "vkDestroyDevice").destroys.name == "device"
    assert not cmd(built, "vkEnumeratePhysicalDevices").creates_new


# -- the generator checks itself -------------------------------------------------------------

def _broken(reg, proto, **changes):
    p = copy.deepcopy(proto)
    for k, v in changes.items():
        setattr(p, k, v)
    return model.build(copy.deepcopy(reg), p)


def test_a_blocked_command_without_an_id_fails_the_build(reg, proto):
    with pytest.raises(model.ModelError, match="no command id"):
        _broken(reg, proto, blocked_commands=proto.blocked_commands + ["vkNoSuchCommand"])


def test_an_extension_number_vk_xml_disagrees_with_fails_the_build(reg, proto):
    exts = copy.deepcopy(proto.extensions)
    for e in exts:
        if e.name == "VK_KHR_synchronization2":
            e.number = 1
    with pytest.raises(model.ModelError):
        _broken(reg, proto, extensions=exts)


def test_a_union_tag_naming_no_member_fails_the_build(reg, proto):
    tags = dict(proto.union_tags, VkClearColorValue="nope")
    with pytest.raises(model.ModelError, match="no member"):
        _broken(reg, proto, union_tags=tags)
