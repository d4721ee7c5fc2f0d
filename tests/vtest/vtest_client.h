#pragma once
// The driver side of the vtest protocol, as Mesa's vn_renderer_vtest.c speaks it: a small client
// for tests (and, over it, a transport for the guest-side client library). Every call returns
// nullopt/false once the server closed the connection or sent something unexpected; it never hangs
// for longer than its reply timeout.
#include "vn/os/unique_fd.h"
#include "vn/vtest/protocol.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vn::vtest::client {

using os::UniqueFd;

struct Blob {
    std::uint32_t res_id = 0;
    UniqueFd fd;
};

struct SyncValue {
    std::uint32_t sync_id = 0;
    std::uint64_t value = 0;
};

struct Batch {
    std::span<const std::byte> cmd; // size must be a multiple of 4
    std::vector<SyncValue> syncs;
    std::uint32_t ring_idx = 0;
};

class VtestClient {
  public:
    VtestClient() = default;
    // Connects to path, retrying for up to wait_ms while the server starts.
    bool connect(const std::string& path, int wait_ms = 5000);
    void close() { m_fd.reset(); }
    int fd() const { return m_fd.get(); }
    void set_reply_timeout(int ms) { m_timeout_ms = ms; }

    // Mesa's start-up: CREATE_RENDERER, the ping probe, PROTOCOL_VERSION, GET_PARAM
    // MAX_TIMELINE_COUNT, GET_CAPSET 4, CONTEXT_INIT 4. Returns false on any deviation.
    bool handshake(const std::string& name = "vtest-client");

    // One command each.
    bool create_renderer(const std::string& name);
    // PING_PROTOCOL_VERSION + RESOURCE_BUSY_WAIT probe; true if the server answered the ping.
    std::optional<bool> ping();
    std::optional<std::uint32_t> protocol_version(std::uint32_t wanted);
    std::optional<std::pair<std::uint32_t, std::uint32_t>> get_param(std::uint32_t param);
    // The capset words, or an empty vector if the server does not support it.
    std::optional<std::vector<std::uint32_t>> get_capset(std::uint32_t id, std::uint32_t version);
    bool context_init(std::uint32_t capset_id);
    std::optional<Blob> create_blob(std::uint32_t type, std::uint32_t flags, std::uint64_t size,
                                    std::uint64_t blob_id);
    bool resource_unref(std::uint32_t res_id);
    std::optional<std::uint32_t> sync_create(std::uint64_t value);
    bool sync_unref(std::uint32_t sync_id);
    std::optional<std::uint64_t> sync_read(std::uint32_t sync_id);
    bool sync_write(std::uint32_t sync_id, std::uint64_t value);
    // Returns the eventfd the server signals once the syncs reach their values.
    std::optional<UniqueFd> sync_wait(std::uint32_t flags, std::uint32_t timeout_ms,
                                      std::span<const SyncValue> syncs);
    // Mesa's layout: 6-word batch descriptors, then every command stream, then every sync.
    bool submit_cmd2(std::span<const Batch> batches);

    // Raw access for bad-input tests.
    bool send_words(std::span<const std::uint32_t> words);
    bool send_bytes(std::span<const std::byte> bytes);
    std::optional<std::vector<std::uint32_t>> read_reply(std::uint32_t command);
    std::optional<UniqueFd> receive_fd();
    // True once the server has closed the connection (read returns 0 or an error) within wait_ms.
    bool closed_by_server(int wait_ms);

    std::uint32_t negotiated_version() const { return m_version; }
    const std::vector<std::uint32_t>& capset() const { return m_capset; }

  private:
    bool read_exact(void* data, std::size_t size);

    UniqueFd m_fd;
    int m_timeout_ms = 30000;
    std::uint32_t m_version = 0;
    std::vector<std::uint32_t> m_capset;
};

} // namespace vn::vtest::client
