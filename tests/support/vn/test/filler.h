#pragma once
// Random but reproducible values for generated round-trip tests (vn_fill.gen.cpp). Counts stay
// small so that every generated command round-trips in microseconds.
#include "vn/protocol/arena.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <type_traits>

namespace vn::test {

class Filler {
  public:
    Filler(std::uint64_t seed, protocol::Arena& arena) : m_rng(seed), m_arena(arena) {}

    std::uint64_t below(std::uint64_t n) { return n ? m_rng() % n : 0; }
    bool coin() { return (m_rng() & 1) != 0; }
    std::uint64_t count() { return below(4); }
    std::uint64_t id() { return (m_rng() | 1) & 0x0000ffffffffffffull; }

    // Any scalar, enum or float: random bits of its size.
    template <typename T>
    void value(T& out) {
        static_assert(std::is_trivially_copyable_v<T>);
        std::uint64_t bits = m_rng();
        if constexpr (sizeof(T) <= 8) {
            std::memcpy(&out, &bits, sizeof(T));
        } else {
            auto* p = reinterpret_cast<unsigned char*>(&out);
            for (std::size_t i = 0; i < sizeof(T); ++i)
                p[i] = static_cast<unsigned char>(m_rng());
        }
    }

    // An enum with no negative value: any value in its C++ range (0..2^31-1).
    template <typename T>
    void enum_value(T& out) {
        static_assert(std::is_enum_v<T> && sizeof(T) == 4);
        out = static_cast<T>(static_cast<std::uint32_t>(m_rng()) & 0x7fffffffu);
    }

    template <typename T>
    T* alloc(std::uint64_t n) {
        return m_arena.allocate_array<T>(n);
    }

    const char* string() {
        const std::uint64_t len = below(12);
        char* s = alloc<char>(len + 1);
        for (std::uint64_t i = 0; i < len; ++i)
            s[i] = static_cast<char>('a' + below(26));
        return s;
    }
    void chars(char* dst, std::size_t n) {
        const std::size_t len = static_cast<std::size_t>(below(n));
        for (std::size_t i = 0; i < len; ++i)
            dst[i] = static_cast<char>('A' + below(26));
        std::memset(dst + len, 0, n - len);
    }

    // pNext chains nest; keep the nesting shallow.
    bool enter() {
        if (m_depth >= 2)
            return false;
        ++m_depth;
        return true;
    }
    void leave() { --m_depth; }

  private:
    std::mt19937_64 m_rng;
    protocol::Arena& m_arena;
    int m_depth = 0;
};

} // namespace vn::test
