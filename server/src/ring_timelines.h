#pragma once
// Per-ring fence timelines. A fence retires by storing its seqno into the ring's u32 slot of the
// shared memory the VMM mapped, then signalling the optional eventfd (render_context.c
// render_context_update_timeline). When a fence may retire is the RingScheduler's decision: ring 0
// is the CPU timeline and retires at once; other rings retire after the work submitted before them.
#include "vn/server/protocol/fd_checks.h"
#include "vn/server/protocol/unique_fd.h"

#include <cstdint>
#include <functional>
#include <memory>

namespace vn::server {

class FenceTimelines {
  public:
    FenceTimelines() = default;
    FenceTimelines(protocol::MappedRegion shmem, protocol::UniqueFd eventfd);

    std::uint32_t ring_count() const { return m_ring_count; }
    // Thread-safe: the executor's queue threads will call this.
    void retire(std::uint32_t ring, std::uint32_t seqno);

  private:
    protocol::MappedRegion m_shmem;
    protocol::UniqueFd m_eventfd;
    std::uint32_t m_ring_count = 0;
};

// The seam the executor plugs into once it binds VkQueues to rings.
class RingScheduler {
  public:
    virtual ~RingScheduler() = default;
    // Called in submission order, after every previously submitted stream was handed to the sink.
    virtual void submit_fence(std::uint32_t ring, std::uint32_t seqno,
                              std::function<void()> retire) = 0;
};

// Without an executor, a stream is done once the sink accepted it, which happens synchronously
// before the next op is read; so every fence retires as soon as it is submitted.
class InlineRingScheduler final : public RingScheduler {
  public:
    void submit_fence(std::uint32_t, std::uint32_t, std::function<void()> retire) override {
        retire();
    }
};

} // namespace vn::server
