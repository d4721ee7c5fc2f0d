#pragma once
// An in-process stand-in for a renderer: blobs are memfds, streams are recorded, and a fence on
// ring 0 runs a test-provided responder that may write into the blobs (as a renderer writes
// replies).
#include "vn/client/mapping.h"
#include "vn/client/transport.h"

#include <functional>
#include <map>
#include <vector>

namespace vn::test {

class FakeTransport final : public client::Transport {
  public:
    // Called on every ring-0 fence with every stream submitted since the previous one.
    using Responder = std::function<void(FakeTransport&, const std::vector<std::byte>& streams)>;

    client::Status submit_cmd(std::span<const std::byte> cmd) override;
    client::Status create_blob(std::uint64_t blob_id, std::uint64_t size, std::uint32_t flags,
                               client::Blob& out) override;
    client::Status destroy_resource(std::uint32_t res_id) override;
    client::Status submit_fence(std::uint32_t ring_idx, std::uint32_t& seqno) override;
    client::Status wait_fence(std::uint32_t ring_idx, std::uint32_t seqno, int timeout_ms) override;
    bool is_lost() override { return lost; }
    std::string last_error() const override { return lost ? "fake: lost" : ""; }

    // The renderer's view of a resource (its own mapping of the memfd).
    std::span<std::byte> resource(std::uint32_t res_id);

    Responder responder;
    bool lost = false;
    std::vector<std::byte> pending;     // streams since the last fence
    std::vector<std::byte> all_streams; // everything ever submitted
    std::map<std::uint32_t, client::Mapping> resources;
    std::vector<std::uint32_t> destroyed;

  private:
    std::uint32_t m_next_res = 1;
    std::uint32_t m_seqno = 0;
};

} // namespace vn::test
