#pragma once
// Encoder side of the wire format (driver-side encoders, renderer replies). Either appends to a
// growable vector or fills a fixed window (a reply stream inside a guest resource); a fixed window
// never writes past its end and remembers that it overflowed.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace vn::protocol {

class Writer {
  public:
    explicit Writer(std::vector<std::byte>& out) : m_vec(&out) {}
    Writer(std::byte* data, std::size_t size) : m_data(data), m_capacity(size) {}

    bool overflowed() const { return m_overflow; }
    // Bytes written so far (into the fixed window, or appended to the vector by this writer).
    std::size_t written() const { return m_written; }

    void u32(std::uint32_t v) { put(&v, 4); }
    void i32(std::int32_t v) { put(&v, 4); }
    void f32(float v) { put(&v, 4); }
    void u64(std::uint64_t v) { put(&v, 8); }
    void i64(std::int64_t v) { put(&v, 8); }
    void f64(double v) { put(&v, 8); }
    template <typename T>
    void slot32(T v) {
        static_assert(sizeof(T) <= 4);
        if constexpr (std::is_enum_v<T>)
            i32(static_cast<std::int32_t>(v));
        else if constexpr (std::is_signed_v<T>)
            i32(static_cast<std::int32_t>(v));
        else
            u32(static_cast<std::uint32_t>(v));
    }
    void array_size(std::uint64_t n) { u64(n); }

    // n bytes, then zero padding to a multiple of 4.
    void bytes(const void* src, std::size_t n);
    void words32(const void* src, std::size_t count) { put(src, count * 4); }
    void words64(const void* src, std::size_t count) { put(src, count * 8); }

  private:
    void put(const void* src, std::size_t n) {
        std::byte* dst = reserve(n);
        if (dst && n)
            std::memcpy(dst, src, n);
    }
    std::byte* reserve(std::size_t n);

    std::vector<std::byte>* m_vec = nullptr;
    std::byte* m_data = nullptr;
    std::size_t m_capacity = 0;
    std::size_t m_written = 0;
    bool m_overflow = false;
};

} // namespace vn::protocol
