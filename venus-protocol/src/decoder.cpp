#include "vn/protocol/decoder.h"

#include <cstdio>
#include <cstring>

namespace vn::protocol {

DecodeResult Decoder::string(const char*& out) {
    std::uint64_t size;
    VN_TRY(in.u64(size));
    if (size == 0) {
        out = nullptr;
        return DecodeResult::Ok;
    }
    char* s = nullptr;
    VN_TRY(alloc(s, size, 1));
    VN_TRY(in.bytes(s, static_cast<std::size_t>(size)));
    if (s[size - 1] != '\0')
        return in.fail("string without a NUL terminator");
    out = s;
    return DecodeResult::Ok;
}

DecodeResult Decoder::char_array(char* dst, std::size_t n) {
    VN_TRY(in.array_size(n));
    VN_TRY(in.bytes(dst, n));
    if (n == 0 || std::memchr(dst, 0, n) == nullptr)
        return in.fail("fixed-size string without a NUL terminator");
    return DecodeResult::Ok;
}

DecodeResult Decoder::alloc_failed(std::uint64_t count, std::size_t elem_size) const {
    char msg[128];
    std::snprintf(msg, sizeof(msg), "allocation of %llu x %zu bytes exceeds the %zu-byte arena cap",
                  static_cast<unsigned long long>(count), elem_size, arena.cap());
    return in.fail(msg);
}

DecodeResult Decoder::null_handle(const char* what) const {
    return in.fail(std::string(what) + " must not be VK_NULL_HANDLE");
}

} // namespace vn::protocol
