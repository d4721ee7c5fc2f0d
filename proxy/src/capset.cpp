// The Venus capset, built in the VMM process from the generated protocol table (vn_capset.gen.h).
#include "venus_proxy.h"
#include "vn_capset.gen.h"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

// struct virgl_renderer_capset_venus (virglrenderer 1.3.0 venus_hw.h), every field a u32.
struct CapsetVenus {
    std::uint32_t wire_format_version;
    std::uint32_t vk_xml_version;
    std::uint32_t vk_ext_command_serialization_spec_version;
    std::uint32_t vk_mesa_venus_protocol_spec_version;
    std::uint32_t supports_blob_id_0;
    std::uint32_t vk_extension_mask1[32];
    std::uint32_t allow_vk_wait_syncs;
    std::uint32_t supports_multiple_timelines;
    std::uint32_t use_guest_vram;
};
static_assert(sizeof(CapsetVenus) == VN_PROXY_CAPSET_VENUS_SIZE);
static_assert(offsetof(CapsetVenus, vk_extension_mask1) == 20);
static_assert(offsetof(CapsetVenus, allow_vk_wait_syncs) == 148);
static_assert(std::size(vn::gen::capset::extension_mask) == 32);

CapsetVenus venus_capset() {
    namespace cs = vn::gen::capset;
    CapsetVenus c{};
    c.wire_format_version = cs::wire_format_version;
    c.vk_xml_version = cs::vk_xml_version;
    c.vk_ext_command_serialization_spec_version = cs::command_serialization_spec_version;
    c.vk_mesa_venus_protocol_spec_version = cs::venus_protocol_spec_version;
    // Our workers allocate a host shm for blob_id 0 + MAPPABLE, wait on the host for the guest,
    // and retire fences per ring, as virglrenderer 1.3.0 does.
    c.supports_blob_id_0 = 1;
    std::memcpy(c.vk_extension_mask1, cs::extension_mask, sizeof(c.vk_extension_mask1));
    c.allow_vk_wait_syncs = 1;
    c.supports_multiple_timelines = 1;
    c.use_guest_vram = 0;
    return c;
}

} // namespace

extern "C" {

int vn_proxy_get_capset_info(uint32_t capset_id, uint32_t* out_max_version,
                             uint32_t* out_max_size) {
    if (capset_id != VN_PROXY_CAPSET_VENUS)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    if (out_max_version)
        *out_max_version = VN_PROXY_CAPSET_VENUS_MAX_VERSION;
    if (out_max_size)
        *out_max_size = VN_PROXY_CAPSET_VENUS_SIZE;
    return VN_PROXY_OK;
}

int vn_proxy_get_capset(uint32_t capset_id, uint32_t version, void* buf, size_t size,
                        size_t* out_size) {
    if (capset_id != VN_PROXY_CAPSET_VENUS || version > VN_PROXY_CAPSET_VENUS_MAX_VERSION)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    if (out_size)
        *out_size = VN_PROXY_CAPSET_VENUS_SIZE;
    if (!buf)
        return size == 0 ? VN_PROXY_OK : VN_PROXY_ERROR_INVALID_ARGUMENT;
    if (size < VN_PROXY_CAPSET_VENUS_SIZE)
        return VN_PROXY_ERROR_INVALID_ARGUMENT;
    const CapsetVenus c = venus_capset();
    // The wire format is little-endian; every supported host is too.
    static_assert(std::endian::native == std::endian::little);
    auto* out = static_cast<unsigned char*>(buf);
    std::memcpy(out, &c, sizeof(c));
    std::memset(out + sizeof(c), 0, size - sizeof(c));
    return VN_PROXY_OK;
}

} // extern "C"
