#pragma once
// The only code that touches guest-controlled command bytes. Every read shrinks the remaining
// span first and fails (Fatal, with one reason) instead of reading past the end. Shared memory is
// `const volatile` so that each field is loaded exactly once: decoded values are copies, and a
// guest rewriting the ring behind our back cannot make us see two different values.
#include "vn/protocol/decode_result.h"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace vn::protocol {

static_assert(std::endian::native == std::endian::little,
              "the Venus wire format is little endian and so are all supported hosts");

class Reader {
  public:
    Reader(const volatile std::byte* data, std::size_t size, FatalState& fatal)
        : m_begin(data), m_cur(data), m_remaining(size), m_fatal(&fatal) {}

    std::size_t remaining() const { return m_remaining; }
    bool empty() const { return m_remaining == 0; }
    std::size_t offset() const { return static_cast<std::size_t>(m_cur - m_begin); }
    FatalState& fatal() const { return *m_fatal; }

    DecodeResult fail(std::string_view reason) const;

    [[gnu::always_inline]] DecodeResult u32(std::uint32_t& v) {
        VN_TRY(need(4));
        v = load_u32(m_cur);
        advance(4);
        return DecodeResult::Ok;
    }
    DecodeResult i32(std::int32_t& v) {
        std::uint32_t u;
        VN_TRY(u32(u));
        v = static_cast<std::int32_t>(u);
        return DecodeResult::Ok;
    }
    DecodeResult f32(float& v) {
        std::uint32_t u;
        VN_TRY(u32(u));
        v = std::bit_cast<float>(u);
        return DecodeResult::Ok;
    }
    [[gnu::always_inline]] DecodeResult u64(std::uint64_t& v) {
        VN_TRY(need(8));
        v = load_u64(m_cur);
        advance(8);
        return DecodeResult::Ok;
    }
    DecodeResult i64(std::int64_t& v) {
        std::uint64_t u;
        VN_TRY(u64(u));
        v = static_cast<std::int64_t>(u);
        return DecodeResult::Ok;
    }
    DecodeResult f64(double& v) {
        std::uint64_t u;
        VN_TRY(u64(u));
        v = std::bit_cast<double>(u);
        return DecodeResult::Ok;
    }
    // 8/16-bit integers and enums travel in a 4-byte slot (zero-extended / int32).
    template <typename T>
    DecodeResult slot32(T& v) {
        std::uint32_t u;
        VN_TRY(u32(u));
        slot32_from(u, v);
        return DecodeResult::Ok;
    }

    // An enum none of whose values is negative. C++ gives such an enum only the range 0..2^31-1, so
    // a negative (high-bit) value could not even be stored without undefined behaviour: fatal.
    template <typename T>
    DecodeResult uenum32(T& v) {
        std::uint32_t u;
        VN_TRY(u32(u));
        return uenum32_from(u, v);
    }
    template <typename T>
    DecodeResult uenum32_array(T* dst, std::size_t count) {
        static_assert(std::is_enum_v<T> && sizeof(T) == 4);
        VN_TRY(words32(dst, count));
        for (std::size_t i = 0; i < count; ++i) {
            std::uint32_t u;
            std::memcpy(&u, reinterpret_cast<const std::byte*>(dst) + 4 * i, 4);
            if (u > 0x7fffffffu) [[unlikely]]
                return fail_enum(u);
        }
        return DecodeResult::Ok;
    }

    // Looks at the next u64 without consuming it (array sizes decide which branch decodes).
    [[gnu::always_inline]] DecodeResult peek_u64(std::uint64_t& v) const {
        VN_TRY(need(8));
        v = load_u64(m_cur);
        return DecodeResult::Ok;
    }

    // An array's wire length must equal the count the struct or command declares.
    [[gnu::always_inline]] DecodeResult array_size(std::uint64_t expected) {
        std::uint64_t n;
        VN_TRY(u64(n));
        if (n != expected) [[unlikely]]
            return fail_array_size(n, expected);
        return DecodeResult::Ok;
    }
    DecodeResult array_size_unchecked(std::uint64_t& n) { return u64(n); }

    // Fails unless `count` elements of at least `min_wire_size` bytes each can still follow.
    // Called before anything is allocated for them, so a lying count costs nothing.
    [[gnu::always_inline]] DecodeResult reserve(std::uint64_t count, std::size_t min_wire_size) {
        // count * size without overflow: compare against remaining / size instead.
        if (min_wire_size != 0 && count > m_remaining / min_wire_size) [[unlikely]]
            return fail_reserve(count, min_wire_size);
        return DecodeResult::Ok;
    }

    // Consumes n bytes at once for a run of fixed-size fields, which the caller then loads at
    // their offsets from `at` (u32_at, u64_at): one bound check for the run, not one per field.
    [[gnu::always_inline]] DecodeResult take(std::size_t n, const volatile std::byte*& at) {
        VN_TRY(need(n));
        at = m_cur;
        advance(n);
        return DecodeResult::Ok;
    }
    [[gnu::always_inline]] static std::uint32_t u32_at(const volatile std::byte* p) {
        return load_u32(p);
    }
    [[gnu::always_inline]] static std::uint64_t u64_at(const volatile std::byte* p) {
        return load_u64(p);
    }
    // What slot32 and uenum32 do with a word already loaded (a run of fields, Reader::take).
    template <typename T>
    static void slot32_from(std::uint32_t u, T& v) {
        static_assert(sizeof(T) <= 4);
        if constexpr (std::is_enum_v<T>)
            v = static_cast<T>(static_cast<std::int32_t>(u));
        else
            v = static_cast<T>(u);
    }
    template <typename T>
    [[gnu::always_inline]] DecodeResult uenum32_from(std::uint32_t u, T& v) const {
        static_assert(std::is_enum_v<T> && sizeof(T) == 4);
        if (u > 0x7fffffffu) [[unlikely]]
            return fail_enum(u);
        v = static_cast<T>(u);
        return DecodeResult::Ok;
    }

    // Copies n bytes and consumes n rounded up to 4 (opaque blobs, u8 and char arrays).
    DecodeResult bytes(void* dst, std::size_t n);
    // Packed arrays of 4- and 8-byte scalars.
    DecodeResult words32(void* dst, std::size_t count);
    DecodeResult words64(void* dst, std::size_t count);

  private:
    [[gnu::always_inline]] DecodeResult need(std::size_t n) const {
        if (n > m_remaining) [[unlikely]]
            return fail_truncated(n);
        return DecodeResult::Ok;
    }
    [[gnu::cold, gnu::noinline]] DecodeResult fail_truncated(std::size_t n) const;
    [[gnu::cold, gnu::noinline]] DecodeResult fail_enum(std::uint32_t value) const;
    [[gnu::cold, gnu::noinline]] DecodeResult fail_array_size(std::uint64_t n,
                                                              std::uint64_t expected) const;
    [[gnu::cold, gnu::noinline]] DecodeResult fail_reserve(std::uint64_t count,
                                                           std::size_t min_wire_size) const;
    void advance(std::size_t n) {
        m_cur += n;
        m_remaining -= n;
    }

    // Shared memory may be written concurrently by the guest: one volatile load per field, so a
    // guest rewriting it cannot make us see two values. A Venus stream is only 4-byte granular,
    // so the types say "alignment 1": the compiler then emits one unaligned load where the target
    // allows it (x86-64, AArch64) rather than a branch on the alignment per field, and byte loads
    // where it does not.
    using unaligned_u32 = std::uint32_t __attribute__((aligned(1), may_alias));
    using unaligned_u64 = std::uint64_t __attribute__((aligned(1), may_alias));
    [[gnu::always_inline]] static std::uint32_t load_u32(const volatile std::byte* p) {
        return *reinterpret_cast<const volatile unaligned_u32*>(p);
    }
    [[gnu::always_inline]] static std::uint64_t load_u64(const volatile std::byte* p) {
        return *reinterpret_cast<const volatile unaligned_u64*>(p);
    }

    const volatile std::byte* m_begin;
    const volatile std::byte* m_cur;
    std::size_t m_remaining;
    FatalState* m_fatal;
};

} // namespace vn::protocol
