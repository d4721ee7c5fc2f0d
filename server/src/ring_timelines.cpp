#include "ring_timelines.h"

#include <atomic>
#include <cerrno>

namespace vn::server {

FenceTimelines::FenceTimelines(os::Mapping shmem, os::UniqueFd eventfd)
    : m_shmem(std::move(shmem)), m_eventfd(std::move(eventfd)),
      m_ring_count(static_cast<std::uint32_t>(m_shmem.size() / sizeof(std::uint32_t))) {
    auto* slots = static_cast<std::uint32_t*>(m_shmem.data());
    for (std::uint32_t i = 0; i < m_ring_count; ++i)
        std::atomic_ref<std::uint32_t>(slots[i]).store(0, std::memory_order_release);
}

void FenceTimelines::retire(std::uint32_t ring, std::uint32_t seqno) {
    if (ring >= m_ring_count)
        return;
    auto* slots = static_cast<std::uint32_t*>(m_shmem.data());
    std::atomic_ref<std::uint32_t>(slots[ring]).store(seqno, std::memory_order_release);
    if (m_eventfd) {
        const std::uint64_t one = 1;
        // EAGAIN means the counter is saturated: the VMM will wake anyway.
        while (::write(m_eventfd.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
        }
    }
}

} // namespace vn::server
