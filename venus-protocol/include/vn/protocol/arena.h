#pragma once
// Per-command temporary memory. Everything a decoded command points at lives here until the
// command has been executed; reset() then makes it all reusable in O(1). The hard cap bounds what
// a guest can make us allocate with one command (Venus uses 1 GiB).
#include <cstddef>
#include <cstdint>
#include <cstring>
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
    // partially decoded struct never exposes stale data from an earlier command; Zero = false only
    // for arrays the caller overwrites in full before anything reads them.
    template <bool Zero = true>
    [[gnu::always_inline]] void* allocate(std::size_t size, std::size_t alignment) {
        // Fast path: small requests that fit the current chunk (nearly every decoded struct).
        const auto cur = reinterpret_cast<std::uintptr_t>(m_cur);
        const std::size_t pad = (alignment - (cur & (alignment - 1))) & (alignment - 1);
        if (size != 0 && size <= 4096 && m_cur &&
            pad + size <= static_cast<std::size_t>(m_end - m_cur) && m_used + pad + size <= m_cap)
            [[likely]] {
            std::byte* p = m_cur + pad;
            m_cur = p + size;
            m_used += pad + size;
            if constexpr (Zero)
                std::memset(p, 0, size);
            return p;
        }
        return allocate_slow(size, alignment);
    }

    // Overflow-checked count * sizeof(T); nullptr on overflow or cap.
    template <typename T, bool Zero = true>
    T* allocate_array(std::uint64_t count) {
        if (count > SIZE_MAX / sizeof(T))
            return nullptr;
        return static_cast<T*>(
            allocate<Zero>(static_cast<std::size_t>(count) * sizeof(T), alignof(T)));
    }

    // Frees everything from this command. The first chunk is kept so that the common case (small
    // commands) never touches the system allocator.
    [[gnu::always_inline]] void reset() {
        if (m_chunks.size() == 1) [[likely]] {
            m_cur = m_chunks.front().get();
            m_used = 0;
            return;
        }
        reset_slow();
    }

    std::size_t used() const { return m_used; }
    std::size_t cap() const { return m_cap; }

  private:
    void* allocate_slow(std::size_t size, std::size_t alignment);
    void reset_slow();

    // A chunk is an anonymous mapping of its own, not a heap block (arena.cpp says why); its
    // unmapper holds its size.
    struct ChunkUnmap {
        std::size_t size;
        void operator()(std::byte* data) const;
    };
    using Chunk = std::unique_ptr<std::byte, ChunkUnmap>;

    std::size_t m_cap;
    std::size_t m_chunk_size;
    std::size_t m_used = 0; // bytes handed out (including alignment padding) since reset()
    std::vector<Chunk> m_chunks;
    std::byte* m_cur = nullptr;
    std::byte* m_end = nullptr;
};

} // namespace vn::protocol
