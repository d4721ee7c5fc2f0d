#pragma once
// One vtest client: one connection, one Venus context, one worker behind libvenus-proxy. The
// client is untrusted: any malformed, unexpected or oversized message ends the session with one
// log line, and everything it held (context, worker, resources, syncs, wait eventfds) goes with it.
#include "venus_proxy.h"
#include "vn/os/unique_fd.h"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vn::vtest {

using os::UniqueFd;

// Creates the client's Venus context (vn_proxy_context_create on a spawned server, or
// vn_proxy_context_adopt of a foreground worker). Returns a VN_PROXY_* result.
using ContextFactory =
    std::function<int(std::uint32_t ctx_id, const std::string& name, vn_proxy_context** out)>;

class Session {
  public:
    // Caps on what one client may make the server hold.
    static constexpr std::uint32_t kMaxMessageWords = (32u << 20) / 4;
    static constexpr std::uint32_t kMaxRendererName = 4096;
    static constexpr std::size_t kMaxResources = 1u << 16;
    static constexpr std::size_t kMaxSyncs = 1u << 16;
    static constexpr std::size_t kMaxWaits = 4096;
    static constexpr std::size_t kMaxPendingFences = 1u << 16;
    static constexpr std::uint64_t kMaxGuestBlobSize = 1ull << 30;
    static constexpr std::uint32_t kMaxBatches = 4096;
    // A client that stops reading its replies is dropped rather than holding its thread forever.
    static constexpr int kSendTimeoutMs = 10000;

    Session(UniqueFd client, std::uint32_t ctx_id, ContextFactory factory);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Serves the client until it disconnects (true) or misbehaves or loses its worker (false).
    bool run();
    // From another thread: makes run() return soon.
    void stop();

  private:
    enum class Read { Ok, Eof, Truncated, Error };
    enum class Outcome { Continue, Closed, Failed };
    struct Wait {
        UniqueFd eventfd;
        bool any = false;
        std::vector<std::pair<std::uint32_t, std::uint64_t>> syncs;
        std::optional<std::chrono::steady_clock::time_point> deadline;
    };
    struct PendingFence {
        std::uint32_t seqno = 0;
        std::vector<std::pair<std::uint32_t, std::uint64_t>> syncs;
    };

    bool serve();
    void teardown();
    bool fail(const std::string& reason);
    Read read_exact(void* data, std::size_t size);
    bool write_words(std::span<const std::uint32_t> words);
    bool reply(std::uint32_t command, std::span<const std::uint32_t> payload);
    bool send_fd(int fd);

    Outcome serve_one_message();
    bool serve_message(std::uint32_t length, std::uint32_t command);
    bool dispatch(std::uint32_t command, std::span<const std::uint32_t> payload);
    bool handle_create_renderer(std::uint32_t length_bytes);
    bool handle_ping(std::span<const std::uint32_t> p);
    bool handle_busy_wait(std::span<const std::uint32_t> p);
    bool handle_protocol_version(std::span<const std::uint32_t> p);
    bool handle_get_param(std::span<const std::uint32_t> p);
    bool handle_get_capset(std::span<const std::uint32_t> p);
    bool handle_context_init(std::span<const std::uint32_t> p);
    bool handle_create_blob(std::span<const std::uint32_t> p);
    bool handle_resource_unref(std::span<const std::uint32_t> p);
    bool handle_sync_create(std::span<const std::uint32_t> p);
    bool handle_sync_unref(std::span<const std::uint32_t> p);
    bool handle_sync_read(std::span<const std::uint32_t> p);
    bool handle_sync_write(std::span<const std::uint32_t> p);
    bool handle_sync_wait(std::span<const std::uint32_t> p);
    bool handle_submit_cmd2(std::span<const std::uint32_t> p);

    bool retire_fences();
    void signal(std::uint32_t sync_id, std::uint64_t value);
    bool satisfied(const Wait& wait) const;
    void update_waits();
    int poll_timeout_ms() const;
    std::uint32_t allocate_resource_id();

    UniqueFd m_client;
    UniqueFd m_stop;
    std::uint32_t m_ctx_id;
    ContextFactory m_factory;
    std::string m_name;
    std::string m_log_prefix;
    bool m_have_renderer = false;
    std::uint32_t m_protocol_version = 0;
    vn_proxy_context* m_ctx = nullptr;
    std::unordered_map<std::uint32_t, bool> m_resources; // res_id -> created in the worker
    std::uint32_t m_next_resource = 1;
    std::unordered_map<std::uint32_t, std::uint64_t> m_syncs;
    std::uint32_t m_next_sync = 1;
    std::vector<Wait> m_waits;
    std::deque<PendingFence> m_pending[64];
    std::size_t m_pending_count = 0;
    std::vector<std::uint32_t> m_buffer;
};

} // namespace vn::vtest
