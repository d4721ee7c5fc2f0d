#pragma once
// A worker's whole life: serve the context ops of one context on one SEQPACKET socket until the
// peer hangs up or the context turns fatal. Runs in a forked worker process, in a thread
// (--worker=thread), or in the foreground (`worker --single-context`).
#include "command_sink.h"
#include "dispatcher.h"
#include "ring_timelines.h"
#include "vn/decoder/context.h"
#include "vn/os/unique_fd.h"
#include "vn/server/protocol/fd_checks.h"
#include "vn/server/protocol/render_protocol.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace vn::server {

struct WorkerReport;

struct ContextConfig {
    std::uint32_t ctx_id = 0;
    std::string name;
    std::uint32_t init_flags = 0; // from the client INIT op
    decoder::ContextQuotas quotas;
    // Where the worker reports its counters and how it ends (shared with the server); may be
    // null (then the context keeps its counters to itself).
    WorkerReport* report = nullptr;
};

// What CREATE_RESOURCE with a non-zero blob_id exports. The executor owns device memory; until it
// exists nothing can be exported and such requests get fd_type INVALID.
struct ExportedBlob {
    protocol::FdType fd_type = protocol::FdType::Invalid;
    std::uint32_t map_info = protocol::kMapCacheNone;
    protocol::VulkanInfo vulkan_info{};
    os::UniqueFd fd;
    // Set when the request itself is a guest error that ends the context (a blob larger than
    // the memory behind it); fd is then empty.
    std::string fatal;
};

class DeviceMemoryExporter {
  public:
    virtual ~DeviceMemoryExporter() = default;
    virtual std::optional<ExportedBlob> export_blob(std::uint64_t blob_id, std::uint64_t size,
                                                    std::uint32_t blob_flags) = 0;
};

class ContextLoop {
  public:
    // Caps on what one guest may make this worker hold.
    static constexpr std::uint64_t kMaxShmBlobSize = 1ull << 30;
    static constexpr std::uint64_t kMaxMappedBytes = 4ull << 30;
    static constexpr std::size_t kMaxResources = 1u << 16;
    static constexpr std::uint64_t kMaxFenceShmemSize = 64 * 1024;
    static constexpr std::uint32_t kMaxSubmitSize = 16u << 20;

    ContextLoop(os::UniqueFd socket, ContextConfig config);
    ~ContextLoop();
    ContextLoop(const ContextLoop&) = delete;
    ContextLoop& operator=(const ContextLoop&) = delete;

    // A spare worker's loop is made before it has a context, so that no context waits for the
    // decoder's set-up; this names the context it then serves. Before run(), on its thread.
    void assign(std::uint32_t ctx_id, std::string name, std::uint32_t init_flags);

    // 0 when the peer closed the socket, 1 when the context became fatal.
    int run();

    // For a worker about to exit: the decoder's threads and the driver's objects end, as the
    // destructor would end them; the memory is left to the exit. Nothing else may be called
    // afterwards.
    void shut_down() { m_sink->shut_down(); }

  private:
    struct Resource {
        protocol::FdType type = protocol::FdType::Invalid;
        std::uint64_t size = 0;
        os::UniqueFd fd;
        os::Mapping mapping;
    };

    bool handle_nop(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_init(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_create_resource(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_import_resource(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_destroy_resource(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_submit_cmd(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_submit_fence(std::span<const std::byte>, std::vector<os::UniqueFd>&);

    bool fail(std::string reason);
    bool send_create_reply(const ExportedBlob& blob);
    std::optional<Resource> create_shm_blob(std::uint64_t size);

    using Table = Dispatcher<protocol::ContextOp, ContextLoop,
                             static_cast<std::size_t>(protocol::ContextOp::Count)>;
    static const Table& table();

    os::UniqueFd m_socket;
    ContextConfig m_config;
    // The report's counters, or our own without a report; declared before the sink that
    // writes them.
    decoder::ContextCounters m_own_counters;
    decoder::ContextCounters* m_counters;
    std::unique_ptr<CommandSink> m_sink;
    std::unique_ptr<DeviceMemoryExporter> m_exporter;
    std::unique_ptr<FenceTimelines> m_timelines;
    // Ring threads look resources up (reply streams, executed streams) while this thread adds
    // and removes them.
    std::mutex m_resources_mutex;
    std::unordered_map<std::uint32_t, Resource> m_resources;
    std::uint64_t m_mapped_bytes = 0;
    std::string m_fatal_reason;
    // Shm blobs this worker holds for the guest, charged against the host-memory quota.
    std::unordered_map<std::uint32_t, decoder::QuotaCharge> m_host_charges;
    bool m_host_refusal_logged = false;
};

} // namespace vn::server
