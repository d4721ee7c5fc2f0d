#pragma once
// A client::Transport that runs the decoder in this process: no server, no worker, no sockets.
// The guest library's Guest and Ring run over it unchanged, so the ring benchmark measures the
// decoder's ring thread with the same guest-side ring code venus-bench drives through processes.
// Only what a ring needs: shmem blobs and CPU-timeline fences (submission is synchronous here).
#include "vn/client/transport.h"
#include "vn/decoder/context.h"
#include "vn/os/mapping.h"

#include <map>
#include <mutex>

namespace vn::bench {

class LocalTransport final : public client::Transport, private decoder::ResourceProvider {
  public:
    explicit LocalTransport(decoder::Mode mode = decoder::Mode::Execute);
    ~LocalTransport() override;

    client::Status submit_cmd(std::span<const std::byte> cmd) override;
    // Shmem blobs only (blob_id 0): there is no device memory to export without a device.
    client::Status create_blob(std::uint64_t blob_id, std::uint64_t size, std::uint32_t flags,
                               client::Blob& out) override;
    client::Status destroy_resource(std::uint32_t res_id) override;
    // Ring 0 only; every stream has run by the time submit_cmd returns.
    client::Status submit_fence(std::uint32_t ring_idx, std::uint32_t& seqno) override;
    client::Status wait_fence(std::uint32_t ring_idx, std::uint32_t seqno, int timeout_ms) override;
    bool is_lost() override { return m_context.is_fatal(); }
    std::string last_error() const override { return m_context.fatal_reason(); }

  private:
    std::optional<decoder::ShmRegion> shm(std::uint32_t id) override;

    // Before the context: its ring threads read these mappings until it is gone.
    std::mutex m_mutex;
    std::map<std::uint32_t, os::Mapping> m_shm;
    std::uint32_t m_next_res_id = 1;
    std::uint32_t m_fence_seqno = 0;
    decoder::Context m_context;
};

} // namespace vn::bench
