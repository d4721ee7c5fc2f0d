#include "vn/protocol/reader.h"

#include <cstdio>

namespace vn::protocol {

DecodeResult Reader::fail(std::string_view reason) const {
    if (m_fatal->is_fatal())
        return DecodeResult::Fatal;
    char where[64];
    std::snprintf(where, sizeof(where), " (at byte %zu of the stream)", offset());
    return m_fatal->fail(std::string(reason) + where);
}

DecodeResult Reader::fail_truncated(std::size_t n) const {
    char msg[96];
    std::snprintf(msg, sizeof(msg), "truncated stream: need %zu bytes, %zu left", n, m_remaining);
    return fail(msg);
}

DecodeResult Reader::fail_enum(std::uint32_t value) const {
    char msg[80];
    std::snprintf(msg, sizeof(msg), "enum value %u is out of range", value);
    return fail(msg);
}

DecodeResult Reader::fail_array_size(std::uint64_t n, std::uint64_t expected) const {
    char msg[96];
    std::snprintf(msg, sizeof(msg), "array size %llu does not match its count %llu",
                  static_cast<unsigned long long>(n), static_cast<unsigned long long>(expected));
    return fail(msg);
}

DecodeResult Reader::fail_reserve(std::uint64_t count, std::size_t min_wire_size) const {
    char msg[128];
    std::snprintf(msg, sizeof(msg), "count %llu of %zu-byte elements exceeds the %zu bytes left",
                  static_cast<unsigned long long>(count), min_wire_size, m_remaining);
    return fail(msg);
}

DecodeResult Reader::bytes(void* dst, std::size_t n) {
    if (n > SIZE_MAX - 3)
        return fail("blob size overflows");
    const std::size_t padded = (n + 3) & ~std::size_t{3};
    VN_TRY(need(padded));
    auto* out = static_cast<std::byte*>(dst);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const std::uint32_t w = load_u32(m_cur + i);
        std::memcpy(out + i, &w, 4);
    }
    for (; i < n; ++i)
        out[i] = m_cur[i];
    advance(padded);
    return DecodeResult::Ok;
}

DecodeResult Reader::words32(void* dst, std::size_t count) {
    if (count > SIZE_MAX / 4)
        return fail("array size overflows");
    VN_TRY(need(count * 4));
    auto* out = static_cast<std::byte*>(dst);
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint32_t w = load_u32(m_cur + 4 * i);
        std::memcpy(out + 4 * i, &w, 4);
    }
    advance(count * 4);
    return DecodeResult::Ok;
}

DecodeResult Reader::words64(void* dst, std::size_t count) {
    if (count > SIZE_MAX / 8)
        return fail("array size overflows");
    VN_TRY(need(count * 8));
    auto* out = static_cast<std::byte*>(dst);
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint64_t w = load_u64(m_cur + 8 * i);
        std::memcpy(out + 8 * i, &w, 8);
    }
    advance(count * 8);
    return DecodeResult::Ok;
}

} // namespace vn::protocol
