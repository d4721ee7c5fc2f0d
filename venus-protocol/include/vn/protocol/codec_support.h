#pragma once
// Small pieces every generated codec calls. Kept by hand (not generated) because they encode wire
// rules that hold for all structs alike.
#include "vn/protocol/decoder.h"
#include "vn/protocol/writer.h"

#include <cstring>
#include <string>
#include <vulkan/vulkan_core.h>

namespace vn::protocol {

static_assert(sizeof(std::size_t) == 8, "size_t travels as u64; 64-bit hosts only");
static_assert(sizeof(VkStructureType) == 4 && sizeof(VkFormat) == 4, "enums travel as int32");

inline DecodeResult read_size(Reader& in, std::size_t& out) {
    std::uint64_t v;
    VN_TRY(in.u64(v));
    out = static_cast<std::size_t>(v);
    return DecodeResult::Ok;
}

// The top-level struct of a pointer must carry its own sType; anything else is a confused or
// hostile guest.
inline DecodeResult expect_stype(Decoder& d, VkStructureType& out, VkStructureType expected) {
    std::int32_t v;
    VN_TRY(d.in.i32(v));
    if (v != static_cast<std::int32_t>(expected)) [[unlikely]]
        return d.in.fail("sType " + std::to_string(v) + " where " +
                         std::to_string(static_cast<std::int32_t>(expected)) + " is required");
    out = expected;
    return DecodeResult::Ok;
}

// Host allocators cannot cross the wire; a guest that sends one is not speaking Venus.
inline DecodeResult expect_null_allocator(Decoder& d) {
    std::uint64_t present;
    VN_TRY(d.in.u64(present));
    if (present) [[unlikely]]
        return d.in.fail("pAllocator must be NULL");
    return DecodeResult::Ok;
}

inline void enc_string(Writer& w, const char* s) {
    if (!s) {
        w.array_size(0);
        return;
    }
    const std::size_t n = std::strlen(s) + 1;
    w.array_size(n);
    w.bytes(s, n);
}

// The sTypes seen in one pNext chain: a repeated sType is fatal (a driver would read only one of
// them), unless vk.xml marks the struct allowduplicate (VkDevicePrivateDataCreateInfo: each one
// reserves slots); the chain's length stays bounded either way.
class PnextSeen {
  public:
    DecodeResult add(Decoder& d, std::int32_t stype, const char* owner,
                     bool allow_duplicate = false) {
        for (std::size_t i = 0; i < m_count && !allow_duplicate; ++i) {
            if (m_types[i] == stype) [[unlikely]]
                return d.in.fail(std::string(owner) + ": sType " + std::to_string(stype) +
                                 " appears twice in one pNext chain");
        }
        if (m_count == max_chain) [[unlikely]]
            return d.in.fail(std::string(owner) + ": pNext chain too long");
        m_types[m_count++] = stype;
        return DecodeResult::Ok;
    }

  private:
    static constexpr std::size_t max_chain = 256;
    std::int32_t m_types[max_chain];
    std::size_t m_count = 0;
};

} // namespace vn::protocol
