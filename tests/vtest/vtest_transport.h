#pragma once
// vn::client::Transport over vtest: the guest-side client library talks to venus-vtest the way
// Mesa's Venus driver does with VN_DEBUG=vtest. Fences are vtest syncs, one timeline sync per
// ring, signalled by the server when the fence retires on that ring.
#include "vn/client/transport.h"
#include "vtest_client.h"

#include <array>
#include <mutex>
#include <string>

namespace vn::vtest::client {

class VtestTransport final : public vn::client::Transport {
  public:
    // Connects to a vtest server and runs Mesa's start-up sequence. Throws vn::client::SetupError.
    explicit VtestTransport(const std::string& socket_path, const std::string& name = "guest");

    vn::client::Status submit_cmd(std::span<const std::byte> cmd) override;
    vn::client::Status create_blob(std::uint64_t blob_id, std::uint64_t size, std::uint32_t flags,
                                   vn::client::Blob& out) override;
    vn::client::Status destroy_resource(std::uint32_t res_id) override;
    vn::client::Status submit_fence(std::uint32_t ring_idx, std::uint32_t& seqno) override;
    vn::client::Status wait_fence(std::uint32_t ring_idx, std::uint32_t seqno,
                                  int timeout_ms) override;
    bool is_lost() override;
    std::string last_error() const override;

    VtestClient& client() { return m_client; }

  private:
    vn::client::Status lost(const std::string& what);

    // Like Mesa's sock_mutex: one request and its reply at a time.
    mutable std::mutex m_mutex;
    VtestClient m_client;
    bool m_lost = false;
    std::string m_error;
    struct Timeline {
        std::uint32_t sync_id = 0; // 0: not created yet
        std::uint32_t seqno = 0;
    };
    std::array<Timeline, kMaxTimelineCount> m_timelines{};
};

} // namespace vn::vtest::client
