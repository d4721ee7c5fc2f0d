// The Venus capset bytes from libvenus-proxy, against virglrenderer 1.3.0's (venus-capset.md).
#include "venus_proxy.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

std::vector<std::uint32_t> capset_words() {
    std::vector<std::uint32_t> words(VN_PROXY_CAPSET_VENUS_SIZE / 4, 0xdeadbeef);
    std::size_t size = 0;
    REQUIRE(vn_proxy_get_capset(VN_PROXY_CAPSET_VENUS, 0, words.data(), words.size() * 4, &size) ==
            VN_PROXY_OK);
    REQUIRE(size == 160);
    return words;
}

// virglrenderer 1.3.0's mask (venus-capset.md section 3): its protocol table lists 185 extensions
// and is generated from vk.xml 1.4.334.
constexpr std::uint32_t kVirgl130Mask[32] = {
    0x2001c001, 0x30402000, 0x005f6bef, 0xc25660c0, 0xf0bb6819, 0xa2658e0c, 0x41310562,
    0xf0e47a0f, 0x9625b474, 0x0800054d, 0x30b70a5a, 0xc6000233, 0x5002073b, 0x000800ca,
    0x008d0150, 0x08198004, 0x00c2e001, 0x01288007, 0x20000080, 0x00000020, 0x00000008,
};

// Our codec is generated from Debian 12's vk.xml 1.3.239, which does not define 38 of those 185
// extensions (build/generated/vn/vn_coverage.txt lists them). Two of them,
// VK_EXT_command_serialization (384) and VK_MESA_venus_protocol (385), are the protocol's own and
// come from venus-protocol.toml, so their bits are set; the other 36 cannot be encoded with this
// registry, so their bits are clear. With VN_VK_XML pointing at vk.xml >= 1.4.334 the mask equals
// virglrenderer's.
constexpr std::uint32_t kVkXml_1_3_239 = 0x004030ef;
struct Missing {
    std::uint32_t number;
    const char* name;
};
constexpr Missing kNotInVkXml_1_3_239[] = {
    {142, "VK_KHR_shader_bfloat16"},
    {233, "VK_KHR_dynamic_rendering_local_read"},
    {236, "VK_KHR_shader_quad_control"},
    {271, "VK_EXT_host_image_copy"},
    {272, "VK_KHR_map_memory2"},
    {284, "VK_EXT_depth_bias_control"},
    {388, "VK_KHR_shader_untyped_pointers"},
    {417, "VK_KHR_shader_subgroup_rotate"},
    {419, "VK_EXT_image_sliced_view_of_3d"},
    {435, "VK_KHR_shader_maximal_reconvergence"},
    {452, "VK_EXT_nested_command_buffer"},
    {454, "VK_EXT_external_memory_acquire_unmodified"},
    {471, "VK_KHR_maintenance5"},
    {482, "VK_KHR_ray_tracing_position_fetch"},
    {496, "VK_EXT_legacy_vertex_attributes"},
    {499, "VK_EXT_pipeline_library_group_handles"},
    {500, "VK_EXT_dynamic_rendering_unused_attachments"},
    {507, "VK_KHR_cooperative_matrix"},
    {512, "VK_KHR_compute_shader_derivatives"},
    {525, "VK_EXT_attachment_feedback_loop_dynamic_state"},
    {526, "VK_KHR_vertex_attribute_divisor"},
    {527, "VK_KHR_load_store_op_none"},
    {529, "VK_KHR_shader_float_controls2"},
    {534, "VK_KHR_index_type_uint8"},
    {535, "VK_KHR_line_rasterization"},
    {544, "VK_KHR_calibrated_timestamps"},
    {545, "VK_KHR_shader_expect_assume"},
    {546, "VK_KHR_maintenance6"},
    {559, "VK_KHR_shader_relaxed_extended_instruction"},
    {563, "VK_KHR_maintenance7"},
    {565, "VK_EXT_shader_replicated_composites"},
    {568, "VK_EXT_shader_float8"},
    {583, "VK_EXT_depth_clamp_control"},
    {605, "VK_KHR_depth_clamp_zero_one"},
    {613, "VK_KHR_robustness2"},
    {643, "VK_EXT_shader_uniform_buffer_unsized_array"},
};

} // namespace

TEST_CASE("capset: 160 bytes, version 0 only, id 4 only") {
    std::uint32_t max_version = 99, max_size = 0;
    REQUIRE(vn_proxy_get_capset_info(VN_PROXY_CAPSET_VENUS, &max_version, &max_size) ==
            VN_PROXY_OK);
    CHECK(max_version == 0);
    CHECK(max_size == 160);
    CHECK(vn_proxy_get_capset_info(1, &max_version, &max_size) == VN_PROXY_ERROR_INVALID_ARGUMENT);

    std::uint32_t buf[40];
    std::size_t size = 0;
    CHECK(vn_proxy_get_capset(VN_PROXY_CAPSET_VENUS, 1, buf, sizeof(buf), &size) ==
          VN_PROXY_ERROR_INVALID_ARGUMENT);
    CHECK(vn_proxy_get_capset(1, 0, buf, sizeof(buf), &size) == VN_PROXY_ERROR_INVALID_ARGUMENT);
    CHECK(vn_proxy_get_capset(VN_PROXY_CAPSET_VENUS, 0, buf, 156, &size) ==
          VN_PROXY_ERROR_INVALID_ARGUMENT);
    size = 0;
    CHECK(vn_proxy_get_capset(VN_PROXY_CAPSET_VENUS, 0, nullptr, 0, &size) == VN_PROXY_OK);
    CHECK(size == 160);

    // A larger buffer gets zeros past the capset, like virglrenderer's memset.
    std::vector<std::uint32_t> big(64, 0xffffffff);
    REQUIRE(vn_proxy_get_capset(VN_PROXY_CAPSET_VENUS, 0, big.data(), big.size() * 4, &size) ==
            VN_PROXY_OK);
    for (std::size_t i = 40; i < big.size(); ++i)
        CHECK(big[i] == 0);
}

TEST_CASE("capset: fixed fields") {
    const auto w = capset_words();
    CHECK(w[0] == 1); // wire_format_version, what Mesa 24 requires
    // vk_xml_version: that of the vk.xml the codec is generated from (Debian 12: 1.3.239); Mesa
    // clamps it to its own and needs at least 1.1.
    CHECK(w[1] >= 0x00401000);
    CHECK(w[2] == 1);  // VK_EXT_command_serialization spec version
    CHECK(w[3] == 3);  // VK_MESA_venus_protocol spec version
    CHECK(w[4] == 1);  // supports_blob_id_0
    CHECK(w[37] == 1); // allow_vk_wait_syncs
    CHECK(w[38] == 1); // supports_multiple_timelines
    CHECK(w[39] == 0); // use_guest_vram
}

TEST_CASE("capset: extension mask is virglrenderer 1.3.0's minus what vk.xml 1.3.239 lacks") {
    const auto w = capset_words();
    if (w[1] != kVkXml_1_3_239) {
        WARN("the golden mask is for vk.xml 1.3.239; this build uses another");
        return;
    }
    std::uint32_t expected[32];
    std::memcpy(expected, kVirgl130Mask, sizeof(expected));
    for (const auto& m : kNotInVkXml_1_3_239)
        expected[m.number / 32] &= ~(1u << (m.number % 32));
    for (std::size_t i = 0; i < 32; ++i) {
        INFO("mask word " << i);
        CHECK(w[5 + i] == expected[i]);
    }
    // Spelled out for the words the two tables share unchanged (venus-capset.md section 3).
    CHECK(w[5 + 0] == 0x2001c001); // bit 0 (mask valid) set
    CHECK(w[5 + 1] == 0x30402000);
    CHECK(w[5 + 2] == 0x005f6bef);
    CHECK(w[5 + 3] == 0xc25660c0);
    // The private extensions are encodable whatever the registry.
    CHECK((w[5 + 384 / 32] >> (384 % 32) & 1) == 1);
    CHECK((w[5 + 385 / 32] >> (385 % 32) & 1) == 1);
    // Each missing extension is really missing, and nothing else differs.
    std::size_t differing = 0;
    for (std::size_t i = 0; i < 32; ++i)
        differing += static_cast<std::size_t>(__builtin_popcount(w[5 + i] ^ kVirgl130Mask[i]));
    CHECK(differing == std::size(kNotInVkXml_1_3_239));
}
