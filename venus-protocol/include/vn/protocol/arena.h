#pragma once
// Per-command temporary memory. Everything a decoded command points at lives here until the
// command has been executed; reset() then makes it all reusable in O(1). The hard cap bounds what
// a guest can make us allocate with one command (Venus uses 1 GiB).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace vn::protocol {

class Arena {
public:
    static constexpr std::size_t default_cap = std::size_t{1} << 30;

    explicit Arena(std::size_t cap = default_cap, std::size_t chunk_size = 64 * 1024);
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // nullptr when the request (rounded) would take the arena past its cap. Memory is zeroed so a
    // partially decoded struct never exposes stale data from an earlier command.
    void* allocate(std::size_t size, std::size_t alignment);

    // Overflow-checked count * sizeof(T); nullptr on overflow or cap.
    template <typename T>
    T* allocate_array(std::uint64_t count) {
        if (count > SIZE_MAX / sizeof(T))
            return nullptr;
        return static_cast<T*>(allocate(static_cast<std::size_t>(count) * sizeof(T), alignof(T)));
    }

    // Frees everything from this command. The first chunk is kept so that the common case (small
    // commands) never touches the system allocator.
    void reset();

    std::size_t used() const { return m_used; }
    std::size_t cap() const { return m_cap; }

private:
    struct Chunk {
        std::unique_ptr<std::byte[]> data;
        std::size_t size;
    };

    std::size_t m_cap;
    std::size_t m_chunk_size;
    std::size_t m_used = 0; // bytes handed out (including alignment padding) since reset()
    std::vector<Chunk> m_chunks;
    std::byte* m_cur = nullptr;
    std::byte* m_end = nullptr;
};

} // namespace vn::protocol
