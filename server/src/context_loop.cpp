#include "context_loop.h"

#include "log.h"
#include "vn/server/protocol/seqpacket.h"
#include "worker_report.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <utility>

namespace vn::server {

using os::UniqueFd;
using protocol::ContextOp;
using protocol::FdType;

namespace {

// Device-memory blobs come from the decoder: host-visible memory it backs with a sealed memfd,
// handed out as a shm blob. Anything else (device-local memory, a size the guest did not ask
// for) is refused, non-fatally, as virglrenderer does for a blob it cannot export.
class SinkMemoryExporter final : public DeviceMemoryExporter {
  public:
    explicit SinkMemoryExporter(CommandSink& sink) : m_sink(sink) {}

    std::optional<ExportedBlob> export_blob(std::uint64_t blob_id, std::uint64_t size,
                                            std::uint32_t) override {
        const auto memory = m_sink.export_memory(blob_id);
        if (!memory) {
            spdlog::info("device-memory blob {}: no guest-mappable memory behind it", blob_id);
            return std::nullopt;
        }
        if (memory->repeated) {
            spdlog::info("device-memory blob {}: exported once already; refused", blob_id);
            return std::nullopt;
        }
        UniqueFd fd(memory->fd);
        // The memfd is rounded up to whole pages (and the driver's import unit); the blob covers
        // what the guest asked for, which may be less, never more.
        if (size > memory->size) {
            ExportedBlob fatal;
            fatal.fatal = "device-memory blob " + std::to_string(blob_id) + ": " +
                          std::to_string(size) + " bytes requested, the memory holds only " +
                          std::to_string(memory->size);
            return fatal;
        }
        ExportedBlob blob;
        blob.fd_type = FdType::Shm;
        blob.map_info = protocol::kMapCacheCached;
        blob.fd = std::move(fd);
        return blob;
    }

  private:
    CommandSink& m_sink;
};

} // namespace

const ContextLoop::Table& ContextLoop::table() {
    namespace p = protocol;
    static const Table kTable({{
        {ContextOp::Nop, sizeof(p::ContextNopRequest), 0, &ContextLoop::handle_nop, "NOP"},
        {ContextOp::Init, sizeof(p::ContextInitRequest), 2, &ContextLoop::handle_init, "INIT"},
        {ContextOp::CreateResource, sizeof(p::ContextCreateResourceRequest), 0,
         &ContextLoop::handle_create_resource, "CREATE_RESOURCE"},
        {ContextOp::ImportResource, sizeof(p::ContextImportResourceRequest), 1,
         &ContextLoop::handle_import_resource, "IMPORT_RESOURCE"},
        {ContextOp::DestroyResource, sizeof(p::ContextDestroyResourceRequest), 0,
         &ContextLoop::handle_destroy_resource, "DESTROY_RESOURCE"},
        {ContextOp::SubmitCmd, sizeof(p::v1::ContextSubmitCmdRequest), 0,
         &ContextLoop::handle_submit_cmd, "SUBMIT_CMD"},
        {ContextOp::SubmitFence, sizeof(p::ContextSubmitFenceRequest), 0,
         &ContextLoop::handle_submit_fence, "SUBMIT_FENCE"},
    }});
    return kTable;
}

ContextLoop::ContextLoop(UniqueFd socket, ContextConfig config)
    : m_socket(std::move(socket)), m_config(std::move(config)),
      m_counters(m_config.report ? &m_config.report->counters : &m_own_counters),
      m_sink(make_command_sink(m_config.ctx_id, m_counters, m_config.quotas,
                               [report = m_config.report](const std::string& reason) {
                                   if (report)
                                       report->set_fatal(reason);
                               })),
      m_exporter(std::make_unique<SinkMemoryExporter>(*m_sink)) {
    // The decoder reads and writes guest shm (reply streams, executed streams) by resource id.
    m_sink->set_shm_lookup([this](std::uint32_t id) -> std::optional<std::span<std::byte>> {
        std::lock_guard lock(m_resources_mutex);
        const auto it = m_resources.find(id);
        if (it == m_resources.end() || it->second.type != protocol::FdType::Shm ||
            !it->second.mapping.valid())
            return std::nullopt;
        return std::span<std::byte>(static_cast<std::byte*>(it->second.mapping.data()),
                                    it->second.mapping.size());
    });
    m_sink->set_resource_lookup(
        [this](std::uint32_t id) -> std::optional<CommandSink::ResourceView> {
            std::lock_guard lock(m_resources_mutex);
            const auto it = m_resources.find(id);
            if (it == m_resources.end())
                return std::nullopt;
            const Resource& r = it->second;
            CommandSink::ResourceView view{CommandSink::ResourceKind::Shm, r.fd.get(), r.size, {}};
            switch (r.type) {
            case FdType::Shm:
                // Exported device memory is not mapped here: it cannot be imported as host
                // memory, which the executor answers with a Vulkan error, not a fatal one.
                if (r.mapping.valid())
                    view.mapping = std::span<std::byte>(static_cast<std::byte*>(r.mapping.data()),
                                                        r.mapping.size());
                break;
            case FdType::DmaBuf:
                view.kind = CommandSink::ResourceKind::DmaBuf;
                break;
            case FdType::Opaque:
                view.kind = CommandSink::ResourceKind::Opaque;
                break;
            default:
                return std::nullopt;
            }
            return view;
        });
}

void ContextLoop::assign(std::uint32_t ctx_id, std::string name, std::uint32_t init_flags) {
    m_config.ctx_id = ctx_id;
    m_config.name = std::move(name);
    m_config.init_flags = init_flags;
}

ContextLoop::~ContextLoop() {
    // The decoder's ring and fence threads use the resources' mappings and the fence timelines:
    // they stop before either goes.
    m_exporter.reset();
    m_sink.reset();
}

bool ContextLoop::fail(std::string reason) {
    m_fatal_reason = std::move(reason);
    return false;
}

int ContextLoop::run() {
    spdlog::debug("context {} ({}): worker serving", m_config.ctx_id, printable(m_config.name));
    if (m_config.report)
        m_config.report->set_phase(WorkerPhase::Serving);
    std::array<std::byte, protocol::v1::kContextRequestMaxSize> buffer;
    for (;;) {
        auto received = protocol::recv_message(m_socket.get(), buffer);
        switch (received.status) {
        case protocol::RecvStatus::Ok:
            break;
        case protocol::RecvStatus::Closed:
            spdlog::debug("context {}: peer closed, worker exits", m_config.ctx_id);
            if (m_config.report)
                m_config.report->set_phase(WorkerPhase::PeerClosed);
            return 0;
        case protocol::RecvStatus::Truncated:
            m_fatal_reason = "truncated or oversized request";
            break;
        case protocol::RecvStatus::BadControl:
            m_fatal_reason = "unexpected control message";
            break;
        case protocol::RecvStatus::Error:
            m_fatal_reason = std::string("receive failed: ") + std::strerror(errno);
            break;
        }
        if (!m_fatal_reason.empty())
            break;

        const std::span<const std::byte> request(buffer.data(), received.size);
        std::string error;
        const auto* row = table().check(request, received.fds.size(), error);
        if (!row) {
            m_fatal_reason = std::move(error);
            break;
        }
        // Everything but NOP needs the context initialized (shmem mapped, sink created).
        if (!m_timelines && row->op != ContextOp::Nop && row->op != ContextOp::Init) {
            m_fatal_reason = std::string(row->name) + " before INIT";
            break;
        }
        // A ring thread may have made the context fatal since the last op; no op of a fatal
        // context is served (vkr's sticky cs_fatal_error).
        if (std::string reason = m_sink->fatal_reason(); !reason.empty()) {
            m_fatal_reason = std::string(row->name) + ": context is fatal: " + reason;
            break;
        }
        if (!(this->*(row->handler))(request, received.fds)) {
            if (m_fatal_reason.empty())
                m_fatal_reason = std::string(row->name) + " failed";
            m_fatal_reason = std::string(row->name) + ": " + m_fatal_reason;
            break;
        }
        // fds a handler did not take are closed here by the vector's destructor.
    }
    spdlog::error("context {} ({}): fatal: {}; worker exits", m_config.ctx_id,
                  printable(m_config.name), m_fatal_reason);
    // Rings show FATAL before anything is torn down, and the server learns the reason even if
    // the worker is killed before it gets to exit.
    m_sink->make_fatal(m_fatal_reason);
    if (m_config.report)
        m_config.report->set_fatal(m_fatal_reason);
    // Other handles on this socket (a thread worker's wakeup dup) must not keep it open: the VMM
    // learns that the context is lost from the hangup.
    ::shutdown(m_socket.get(), SHUT_RDWR);
    return 1;
}

bool ContextLoop::handle_nop(std::span<const std::byte>, std::vector<UniqueFd>&) {
    return true;
}

bool ContextLoop::handle_init(std::span<const std::byte> bytes, std::vector<UniqueFd>& fds) {
    const auto req = request_as<protocol::ContextInitRequest>(bytes);
    if (m_timelines)
        return fail("context already initialized");
    if (fds.size() != 1 && fds.size() != 2)
        return fail("expected a shmem fd and an optional eventfd, got " +
                    std::to_string(fds.size()) + " fds");
    if ((req.flags & protocol::kContextCapsetIdMask) != protocol::kCapsetVenus)
        return fail("capset " + std::to_string(req.flags & protocol::kContextCapsetIdMask) +
                    " is not Venus");
    if (req.shmem_size < sizeof(std::uint32_t) || req.shmem_size % sizeof(std::uint32_t) != 0 ||
        req.shmem_size > kMaxFenceShmemSize)
        return fail("bad shmem size " + std::to_string(req.shmem_size));

    const int shmem_fd = fds[0].get();
    const auto file_size = protocol::regular_file_size(shmem_fd);
    if (!file_size)
        return fail("shmem fd is not a regular file");
    if (*file_size < req.shmem_size)
        return fail("shmem fd holds " + std::to_string(*file_size) + " bytes, less than " +
                    std::to_string(req.shmem_size));
    // A VMM that can shrink the file under our mapping could make every fence store a SIGBUS.
    const int seals = protocol::file_seals(shmem_fd);
    if (seals < 0 || !(seals & F_SEAL_SHRINK))
        return fail("shmem fd is not sealed against shrinking");
    if (fds.size() == 2 && !protocol::is_eventfd(fds[1].get()))
        return fail("second fd is not an eventfd");

    auto mapping = os::Mapping::map(shmem_fd, static_cast<std::size_t>(req.shmem_size),
                                    PROT_READ | PROT_WRITE);
    if (!mapping)
        return fail(std::string("cannot map shmem: ") + std::strerror(errno));
    UniqueFd eventfd = fds.size() == 2 ? std::move(fds[1]) : UniqueFd();
    m_timelines = std::make_unique<FenceTimelines>(std::move(*mapping), std::move(eventfd));
    spdlog::debug("context {}: initialized with {} rings{}", m_config.ctx_id,
                  m_timelines->ring_count(), fds.size() == 2 ? " and an eventfd" : "");
    return true;
}

std::optional<ContextLoop::Resource> ContextLoop::create_shm_blob(std::uint64_t size) {
    UniqueFd fd(::memfd_create("vn-shmem", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
        return std::nullopt;
    // F_SEAL_SEAL is left for the proxy to add: virglrenderer's proxy adds SEAL|SHRINK|GROW and
    // rejects the fd if it cannot.
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
        return std::nullopt;
    auto mapping =
        os::Mapping::map(fd.get(), static_cast<std::size_t>(size), PROT_READ | PROT_WRITE);
    if (!mapping)
        return std::nullopt;
    Resource res;
    res.type = FdType::Shm;
    res.size = size;
    res.fd = std::move(fd);
    res.mapping = std::move(*mapping);
    return res;
}

bool ContextLoop::send_create_reply(const ExportedBlob& blob) {
    protocol::v1::ContextCreateResourceReply reply{};
    reply.fd_type = blob.fd_type;
    reply.map_info = blob.map_info;
    reply.vulkan_info = blob.vulkan_info;
    const int fd = blob.fd.get();
    const bool ok =
        blob.fd_type == FdType::Invalid
            ? protocol::send_struct(m_socket.get(), reply)
            : protocol::send_struct(m_socket.get(), reply, std::span<const int>(&fd, 1));
    if (!ok)
        return fail(std::string("cannot send reply: ") + std::strerror(errno));
    return true;
}

bool ContextLoop::handle_create_resource(std::span<const std::byte> bytes, std::vector<UniqueFd>&) {
    const auto req = request_as<protocol::ContextCreateResourceRequest>(bytes);
    const ExportedBlob refused;
    // Failures here are the guest's to handle (it gets fd_type INVALID), as in virglrenderer.
    if (req.res_id == 0 || m_resources.contains(req.res_id)) {
        spdlog::warn("context {}: CREATE_RESOURCE: res_id {} is {}", m_config.ctx_id, req.res_id,
                     req.res_id == 0 ? "reserved" : "in use");
        return send_create_reply(refused);
    }
    if (m_resources.size() >= kMaxResources) {
        spdlog::warn("context {}: CREATE_RESOURCE: too many resources", m_config.ctx_id);
        return send_create_reply(refused);
    }
    if (req.blob_size == 0) {
        spdlog::warn("context {}: CREATE_RESOURCE {}: empty blob", m_config.ctx_id, req.res_id);
        return send_create_reply(refused);
    }

    if (req.blob_id == 0 && req.blob_flags == protocol::kBlobFlagMappable) {
        if (req.blob_size > kMaxShmBlobSize || m_mapped_bytes + req.blob_size > kMaxMappedBytes) {
            spdlog::warn("context {}: CREATE_RESOURCE {}: {} bytes exceed the shm budget",
                         m_config.ctx_id, req.res_id, req.blob_size);
            return send_create_reply(refused);
        }
        // Refused like any failed allocation: the guest's driver sees out-of-memory.
        decoder::QuotaCharge charge;
        if (!charge.take(m_counters->host_memory, req.blob_size, m_config.quotas.host_memory,
                         &m_counters->host_memory_peak)) {
            m_counters->quota_refusals.fetch_add(1, std::memory_order_relaxed);
            if (!std::exchange(m_host_refusal_logged, true))
                spdlog::warn("context {}: host memory quota: refused a {} byte shm blob with {} "
                             "of {} held (further refusals are only counted)",
                             m_config.ctx_id, req.blob_size, m_counters->host_memory.load(),
                             m_config.quotas.host_memory);
            return send_create_reply(refused);
        }
        auto res = create_shm_blob(req.blob_size);
        if (!res) {
            spdlog::warn("context {}: CREATE_RESOURCE {}: shm allocation failed: {}",
                         m_config.ctx_id, req.res_id, std::strerror(errno));
            return send_create_reply(refused);
        }
        ExportedBlob blob;
        blob.fd_type = FdType::Shm;
        blob.map_info = protocol::kMapCacheCached;
        blob.fd = UniqueFd(::fcntl(res->fd.get(), F_DUPFD_CLOEXEC, 0));
        if (!blob.fd)
            return send_create_reply(refused);
        m_mapped_bytes += req.blob_size;
        m_host_charges.insert_or_assign(req.res_id, std::move(charge));
        std::lock_guard lock(m_resources_mutex);
        m_resources.emplace(req.res_id, std::move(*res));
        return send_create_reply(blob);
    }

    auto blob = m_exporter->export_blob(req.blob_id, req.blob_size, req.blob_flags);
    if (blob && !blob->fatal.empty())
        return fail("resource " + std::to_string(req.res_id) + ": " + blob->fatal);
    if (!blob || !blob->fd) {
        spdlog::info("context {}: CREATE_RESOURCE {}: blob {} cannot be exported", m_config.ctx_id,
                     req.res_id, req.blob_id);
        return send_create_reply(refused);
    }
    Resource res;
    res.type = blob->fd_type;
    res.size = req.blob_size;
    res.fd = UniqueFd(::fcntl(blob->fd.get(), F_DUPFD_CLOEXEC, 0));
    {
        std::lock_guard lock(m_resources_mutex);
        m_resources.emplace(req.res_id, std::move(res));
    }
    return send_create_reply(*blob);
}

bool ContextLoop::handle_import_resource(std::span<const std::byte> bytes,
                                         std::vector<UniqueFd>& fds) {
    const auto req = request_as<protocol::ContextImportResourceRequest>(bytes);
    if (fds.size() != 1)
        return fail("expected 1 fd, got " + std::to_string(fds.size()));
    if (req.res_id == 0)
        return fail("res_id 0 is reserved");
    if (m_resources.contains(req.res_id))
        return fail("res_id " + std::to_string(req.res_id) + " is in use");
    if (m_resources.size() >= kMaxResources)
        return fail("too many resources");
    if (req.size == 0)
        return fail("empty resource");

    Resource res;
    res.type = req.fd_type;
    res.size = req.size;
    const int fd = fds[0].get();
    switch (req.fd_type) {
    case FdType::Shm: {
        const auto file_size = protocol::regular_file_size(fd);
        if (!file_size)
            return fail("SHM resource fd is not a regular file");
        if (req.size > *file_size)
            return fail("SHM resource claims " + std::to_string(req.size) + " bytes, fd holds " +
                        std::to_string(*file_size));
        const int seals = protocol::file_seals(fd);
        if (seals < 0 || !(seals & F_SEAL_SHRINK))
            return fail("SHM resource fd is not sealed against shrinking");
        if (req.size > kMaxShmBlobSize || m_mapped_bytes + req.size > kMaxMappedBytes)
            return fail("SHM resource exceeds the mapping budget");
        auto mapping =
            os::Mapping::map(fd, static_cast<std::size_t>(req.size), PROT_READ | PROT_WRITE);
        if (!mapping)
            return fail(std::string("cannot map SHM resource: ") + std::strerror(errno));
        res.mapping = std::move(*mapping);
        m_mapped_bytes += req.size;
        break;
    }
    case FdType::DmaBuf: {
        if (!protocol::is_dmabuf(fd))
            return fail("DMABUF resource fd is not a dma-buf");
        const auto size = protocol::seek_size(fd);
        if (!size || req.size > *size)
            return fail("DMABUF resource claims more than the dma-buf holds");
        break;
    }
    case FdType::Opaque:
        // Only the driver can judge an opaque fd; it is kept for the executor to import.
        break;
    default:
        return fail("fd type " + std::to_string(static_cast<int>(req.fd_type)) +
                    " cannot be imported");
    }
    res.fd = std::move(fds[0]);
    std::lock_guard lock(m_resources_mutex);
    m_resources.emplace(req.res_id, std::move(res));
    return true;
}

bool ContextLoop::handle_destroy_resource(std::span<const std::byte> bytes,
                                          std::vector<UniqueFd>&) {
    const auto req = request_as<protocol::ContextDestroyResourceRequest>(bytes);
    const auto it = m_resources.find(req.res_id);
    // Unknown ids are ignored, as in virglrenderer: the VMM destroys resources it never attached.
    if (it == m_resources.end())
        return true;
    const bool released = m_sink->release_resource(req.res_id, [&] {
        if (it->second.mapping.valid())
            m_mapped_bytes -= it->second.size;
        m_host_charges.erase(req.res_id);
        std::lock_guard lock(m_resources_mutex);
        m_resources.erase(it);
    });
    if (!released)
        return fail("resource " + std::to_string(req.res_id) +
                    " is in use by a ring, a reply stream or imported memory");
    return true;
}

bool ContextLoop::handle_submit_cmd(std::span<const std::byte> bytes, std::vector<UniqueFd>&) {
    const auto req = request_as<protocol::v1::ContextSubmitCmdRequest>(bytes);
    if (req.size > kMaxSubmitSize)
        return fail("submit of " + std::to_string(req.size) + " bytes exceeds the limit");

    std::vector<std::byte> large;
    std::span<const std::byte> stream;
    if (req.size <= protocol::kSubmitInlineSize) {
        stream = std::span<const std::byte>(reinterpret_cast<const std::byte*>(req.cmd), req.size);
    } else {
        const std::size_t remain = req.size - protocol::kSubmitInlineSize;
        large.resize(req.size);
        std::memcpy(large.data(), req.cmd, protocol::kSubmitInlineSize);
        const std::span<std::byte> tail(large.data() + protocol::kSubmitInlineSize, remain);
        auto received = protocol::recv_message(m_socket.get(), tail);
        if (received.status != protocol::RecvStatus::Ok)
            return fail("split payload: receive failed or truncated");
        if (!received.fds.empty())
            return fail("split payload carries fds");
        if (received.size != remain)
            return fail("split payload of " + std::to_string(received.size) + " bytes, expected " +
                        std::to_string(remain));
        stream = large;
    }
    if (!m_sink->submit(stream))
        return fail("command stream rejected: " + m_sink->fatal_reason());
    return true;
}

bool ContextLoop::handle_submit_fence(std::span<const std::byte> bytes, std::vector<UniqueFd>&) {
    const auto req = request_as<protocol::ContextSubmitFenceRequest>(bytes);
    if (req.flags & ~protocol::kFenceFlagMergeable)
        return fail("unknown fence flags " + std::to_string(req.flags));
    if (req.ring_index >= m_timelines->ring_count())
        return fail("ring " + std::to_string(req.ring_index) + " out of " +
                    std::to_string(m_timelines->ring_count()));
    FenceTimelines* timelines = m_timelines.get();
    const std::uint32_t ring = req.ring_index;
    const std::uint32_t seqno = req.seqno;
    if (ring == 0) {
        // The CPU timeline: nothing to wait for.
        timelines->retire(ring, seqno);
        return true;
    }
    std::string error;
    if (!m_sink->submit_fence(
            ring, [timelines, ring, seqno] { timelines->retire(ring, seqno); }, error))
        return fail(error);
    return true;
}

} // namespace vn::server
