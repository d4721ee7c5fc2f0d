#include "vn/protocol/arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace vn::protocol {

// Chunks are mapped, not taken from malloc: a worker's first large allocation after fork copies
// the allocator's metadata pages (jemalloc's: over a millisecond of a spare worker's CPU on a
// host where page faults are slow), and each context makes one at its start. A fresh mapping
// costs one system call, and only the pages a command writes are ever faulted in, zero-filled.
// Chunks are 64 KiB or a big command's size, so the mapping's page granularity wastes little.
void Arena::ChunkUnmap::operator()(std::byte* data) const {
    ::munmap(data, size);
}

Arena::Arena(std::size_t cap, std::size_t chunk_size) : m_cap(cap), m_chunk_size(chunk_size) {}

void* Arena::allocate_slow(std::size_t size, std::size_t alignment) {
    if (size == 0)
        size = 1;
    auto cur = reinterpret_cast<std::uintptr_t>(m_cur);
    std::size_t pad = (alignment - (cur & (alignment - 1))) & (alignment - 1);
    if (m_cur && size <= static_cast<std::size_t>(m_end - m_cur) &&
        pad <= static_cast<std::size_t>(m_end - m_cur) - size) [[likely]] {
        if (size + pad > m_cap - std::min(m_cap, m_used))
            return nullptr;
        std::byte* p = m_cur + pad;
        m_cur = p + size;
        m_used += size + pad;
        std::memset(p, 0, size);
        return p;
    }
    // New chunk: big requests get a chunk of their own size. The cap counts what was asked for,
    // so a guest cannot exceed it by making us round up.
    if (size > m_cap - std::min(m_cap, m_used) || size > SIZE_MAX - alignment)
        return nullptr;
    const std::size_t chunk = std::max(m_chunk_size, size + alignment);
    void* mapped =
        ::mmap(nullptr, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED)
        return nullptr;
    Chunk data(static_cast<std::byte*>(mapped), ChunkUnmap{chunk});
    m_cur = data.get();
    m_end = m_cur + chunk;
    m_chunks.push_back(std::move(data));
    cur = reinterpret_cast<std::uintptr_t>(m_cur);
    pad = (alignment - (cur & (alignment - 1))) & (alignment - 1);
    std::byte* p = m_cur + pad;
    m_cur = p + size;
    m_used += size + pad;
    std::memset(p, 0, size);
    return p;
}

void Arena::reset_slow() {
    if (m_chunks.size() > 1)
        m_chunks.resize(1);
    if (!m_chunks.empty()) {
        m_cur = m_chunks.front().get();
        m_end = m_cur + m_chunks.front().get_deleter().size;
    }
    m_used = 0;
}

} // namespace vn::protocol
