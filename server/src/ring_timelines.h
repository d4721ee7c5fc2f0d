#pragma once
// Per-ring fence timelines. A fence retires by storing its seqno into the ring's u32 slot of the
// shared memory the VMM mapped, then signalling the optional eventfd (render_context.c
// render_context_update_timeline). Ring 0 is the CPU timeline and retires at once; other rings
// retire on the executor's fence thread once the GPU work submitted before them has completed.
#include "vn/os/unique_fd.h"
#include "vn/server/protocol/fd_checks.h"

#include <cstdint>

namespace vn::server {

class FenceTimelines {
  public:
    FenceTimelines() = default;
    FenceTimelines(os::Mapping shmem, os::UniqueFd eventfd);

    std::uint32_t ring_count() const { return m_ring_count; }
    // Thread-safe: the executor's queue threads will call this.
    void retire(std::uint32_t ring, std::uint32_t seqno);

  private:
    os::Mapping m_shmem;
    os::UniqueFd m_eventfd;
    std::uint32_t m_ring_count = 0;
};

} // namespace vn::server
