#include "session.h"

#include "vn/vtest/protocol.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>

namespace vn::vtest {

namespace {

constexpr std::uint64_t join64(std::uint32_t lo, std::uint32_t hi) {
    return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

const char* command_name(std::uint32_t id) {
    switch (static_cast<Command>(id)) {
    case Command::GetCaps:
        return "GET_CAPS";
    case Command::ResourceCreate:
        return "RESOURCE_CREATE";
    case Command::ResourceUnref:
        return "RESOURCE_UNREF";
    case Command::TransferGet:
        return "TRANSFER_GET";
    case Command::TransferPut:
        return "TRANSFER_PUT";
    case Command::SubmitCmd:
        return "SUBMIT_CMD";
    case Command::ResourceBusyWait:
        return "RESOURCE_BUSY_WAIT";
    case Command::CreateRenderer:
        return "CREATE_RENDERER";
    case Command::GetCaps2:
        return "GET_CAPS2";
    case Command::PingProtocolVersion:
        return "PING_PROTOCOL_VERSION";
    case Command::ProtocolVersion:
        return "PROTOCOL_VERSION";
    case Command::ResourceCreate2:
        return "RESOURCE_CREATE2";
    case Command::TransferGet2:
        return "TRANSFER_GET2";
    case Command::TransferPut2:
        return "TRANSFER_PUT2";
    case Command::GetParam:
        return "GET_PARAM";
    case Command::GetCapset:
        return "GET_CAPSET";
    case Command::ContextInit:
        return "CONTEXT_INIT";
    case Command::ResourceCreateBlob:
        return "RESOURCE_CREATE_BLOB";
    case Command::SyncCreate:
        return "SYNC_CREATE";
    case Command::SyncUnref:
        return "SYNC_UNREF";
    case Command::SyncRead:
        return "SYNC_READ";
    case Command::SyncWrite:
        return "SYNC_WRITE";
    case Command::SyncWait:
        return "SYNC_WAIT";
    case Command::SubmitCmd2:
        return "SUBMIT_CMD2";
    }
    return nullptr;
}

// Fixed payload length of a request in words, or nullopt for variable-length ones.
std::optional<std::uint32_t> fixed_length(Command c) {
    switch (c) {
    case Command::ResourceUnref:
        return kResourceUnrefSize;
    case Command::ResourceBusyWait:
        return kBusyWaitSize;
    case Command::PingProtocolVersion:
        return 0;
    case Command::ProtocolVersion:
        return kProtocolVersionSize;
    case Command::GetParam:
        return kGetParamSize;
    case Command::GetCapset:
        return kGetCapsetSize;
    case Command::ContextInit:
        return kContextInitSize;
    case Command::ResourceCreateBlob:
        return kCreateBlobSize;
    case Command::SyncCreate:
        return kSyncCreateSize;
    case Command::SyncUnref:
        return kSyncUnrefSize;
    case Command::SyncRead:
        return kSyncReadSize;
    case Command::SyncWrite:
        return kSyncWriteSize;
    default:
        return std::nullopt;
    }
}

std::string printable_name(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '\0' || out.size() >= 64)
            break;
        out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    return out;
}

} // namespace

Session::Session(UniqueFd client, std::uint32_t ctx_id, ContextFactory factory)
    : m_client(std::move(client)), m_stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      m_ctx_id(ctx_id), m_factory(std::move(factory)),
      m_log_prefix("client " + std::to_string(ctx_id)) {
    // Replies are small; a client that lets them pile up unread is not a client we wait for.
    timeval tv{kSendTimeoutMs / 1000, 0};
    ::setsockopt(m_client.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

Session::~Session() {
    teardown();
}

void Session::teardown() {
    m_waits.clear();
    for (auto& ring : m_pending)
        ring.clear();
    m_pending_count = 0;
    m_resources.clear();
    m_syncs.clear();
    if (m_ctx) {
        // Destroys the worker's context and closes every fd the proxy held for it.
        vn_proxy_context_destroy(m_ctx);
        m_ctx = nullptr;
    }
}

void Session::stop() {
    const std::uint64_t one = 1;
    (void)!::write(m_stop.get(), &one, sizeof(one));
    // Wakes a read blocked in the middle of a message.
    ::shutdown(m_client.get(), SHUT_RDWR);
}

bool Session::fail(const std::string& reason) {
    spdlog::error("{}: {}; closing the connection and destroying its context", m_log_prefix,
                  reason);
    return false;
}

Session::Read Session::read_exact(void* data, std::size_t size) {
    auto* out = static_cast<std::byte*>(data);
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::recv(m_client.get(), out + done, size - done, 0);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n == 0) {
            return done == 0 ? Read::Eof : Read::Truncated;
        } else if (errno != EINTR) {
            return Read::Error;
        }
    }
    return Read::Ok;
}

bool Session::write_words(std::span<const std::uint32_t> words) {
    const auto* data = reinterpret_cast<const std::byte*>(words.data());
    std::size_t done = 0;
    const std::size_t size = words.size_bytes();
    while (done < size) {
        const ssize_t n = ::send(m_client.get(), data + done, size - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return fail("does not read its replies");
        } else {
            return fail(std::string("cannot send a reply: ") + std::strerror(errno));
        }
    }
    return true;
}

bool Session::reply(std::uint32_t command, std::span<const std::uint32_t> payload) {
    m_buffer.assign({static_cast<std::uint32_t>(payload.size()), command});
    m_buffer.insert(m_buffer.end(), payload.begin(), payload.end());
    return write_words(m_buffer);
}

bool Session::send_fd(int fd) {
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    for (;;) {
        const ssize_t n = ::sendmsg(m_client.get(), &msg, MSG_NOSIGNAL);
        if (n == 1)
            return true;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return fail("does not read its replies");
        return fail(std::string("cannot send an fd: ") + std::strerror(errno));
    }
}

int Session::poll_timeout_ms() const {
    std::optional<std::chrono::steady_clock::time_point> first;
    for (const auto& w : m_waits) {
        if (w.deadline && (!first || *w.deadline < *first))
            first = w.deadline;
    }
    if (!first)
        return -1;
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(*first - std::chrono::steady_clock::now());
    return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60000));
}

bool Session::run() {
    spdlog::info("{}: connected", m_log_prefix);
    const bool clean = serve();
    teardown();
    return clean;
}

bool Session::serve() {
    for (;;) {
        std::array<pollfd, 4> fds{};
        std::size_t n = 0;
        fds[n++] = {m_client.get(), POLLIN, 0};
        fds[n++] = {m_stop.get(), POLLIN, 0};
        const std::size_t fence_slot = n;
        if (m_ctx && vn_proxy_context_fence_fd(m_ctx) >= 0)
            fds[n++] = {vn_proxy_context_fence_fd(m_ctx), POLLIN, 0};
        const std::size_t worker_slot = n;
        // Only hang-ups are of interest on the worker socket: it carries no unsolicited messages.
        if (m_ctx)
            fds[n++] = {vn_proxy_context_socket_fd(m_ctx), 0, 0};
        const int ready = ::poll(fds.data(), n, poll_timeout_ms());
        if (ready < 0 && errno != EINTR)
            return fail(std::string("poll: ") + std::strerror(errno));
        if (fds[1].revents) {
            spdlog::info("{}: server shutting down", m_log_prefix);
            return true;
        }
        if (fence_slot < n && fds[fence_slot].revents) {
            std::uint64_t count;
            (void)!::read(fds[fence_slot].fd, &count, sizeof(count));
            if (!retire_fences())
                return false;
        }
        if (worker_slot < n && fds[worker_slot].revents &&
            vn_proxy_context_check(m_ctx) == VN_PROXY_ERROR_CONTEXT_LOST) {
            // The worker may have retired fences just before it went away.
            (void)retire_fences();
            return fail("its worker is gone (the context turned fatal or the worker died)");
        }
        if (fds[0].revents) {
            const Outcome outcome = serve_one_message();
            if (outcome != Outcome::Continue)
                return outcome == Outcome::Closed;
        }
        // Expire waits whose timeout passed: the client has stopped polling them.
        const auto now = std::chrono::steady_clock::now();
        std::erase_if(m_waits, [&](const Wait& w) { return w.deadline && *w.deadline <= now; });
    }
}

Session::Outcome Session::serve_one_message() {
    std::uint32_t header[kHeaderWords];
    const Read r = read_exact(header, sizeof(header));
    if (r == Read::Eof) {
        // A disconnect between messages is how every client ends.
        spdlog::info("{}: disconnected", m_log_prefix);
        return Outcome::Closed;
    }
    if (r == Read::Truncated) {
        (void)fail("connection closed in the middle of a message header");
        return Outcome::Failed;
    }
    if (r == Read::Error) {
        (void)fail(std::string("read failed: ") + std::strerror(errno));
        return Outcome::Failed;
    }
    return serve_message(header[kHeaderLength], header[kHeaderCommand]) ? Outcome::Continue
                                                                        : Outcome::Failed;
}

bool Session::serve_message(std::uint32_t length, std::uint32_t command) {
    if (!m_have_renderer && command != static_cast<std::uint32_t>(Command::CreateRenderer))
        return fail("the first command must be CREATE_RENDERER, got " + std::to_string(command));
    if (command == static_cast<std::uint32_t>(Command::CreateRenderer))
        return handle_create_renderer(length);

    const char* name = command_name(command);
    if (!name)
        return fail("unknown command " + std::to_string(command));
    const auto expected = fixed_length(static_cast<Command>(command));
    if (expected && length != *expected) {
        return fail(std::string(name) + ": payload of " + std::to_string(length) +
                    " words, expected " + std::to_string(*expected));
    }
    if (length > kMaxMessageWords) {
        return fail(std::string(name) + ": payload of " + std::to_string(length) +
                    " words is over the limit of " + std::to_string(kMaxMessageWords));
    }
    std::vector<std::uint32_t> payload(length);
    const Read pr = read_exact(payload.data(), payload.size() * sizeof(std::uint32_t));
    if (pr != Read::Ok) {
        return fail(std::string(name) + ": connection closed in the middle of the message (" +
                    std::to_string(length) + " words announced)");
    }
    return dispatch(command, payload);
}

bool Session::dispatch(std::uint32_t command, std::span<const std::uint32_t> p) {
    switch (static_cast<Command>(command)) {
    case Command::PingProtocolVersion:
        return handle_ping(p);
    case Command::ResourceBusyWait:
        return handle_busy_wait(p);
    case Command::ProtocolVersion:
        return handle_protocol_version(p);
    case Command::GetParam:
        return handle_get_param(p);
    case Command::GetCapset:
        return handle_get_capset(p);
    case Command::ContextInit:
        return handle_context_init(p);
    case Command::ResourceCreateBlob:
        return handle_create_blob(p);
    case Command::ResourceUnref:
        return handle_resource_unref(p);
    case Command::SyncCreate:
        return handle_sync_create(p);
    case Command::SyncUnref:
        return handle_sync_unref(p);
    case Command::SyncRead:
        return handle_sync_read(p);
    case Command::SyncWrite:
        return handle_sync_write(p);
    case Command::SyncWait:
        return handle_sync_wait(p);
    case Command::SubmitCmd2:
        return handle_submit_cmd2(p);
    default:
        // The virgl (OpenGL) commands: a Venus-only server has no renderer for them.
        return fail(std::string(command_name(command)) + " is not supported (Venus only)");
    }
}

bool Session::handle_create_renderer(std::uint32_t length_bytes) {
    if (m_have_renderer)
        return fail("CREATE_RENDERER sent twice");
    if (length_bytes > kMaxRendererName) {
        return fail("CREATE_RENDERER: name of " + std::to_string(length_bytes) +
                    " bytes is over the limit of " + std::to_string(kMaxRendererName));
    }
    std::string name(length_bytes, '\0');
    if (read_exact(name.data(), name.size()) != Read::Ok)
        return fail("CREATE_RENDERER: connection closed in the middle of the name");
    m_name = printable_name(name);
    if (m_name.empty())
        m_name = "vtest";
    m_have_renderer = true;
    m_log_prefix = "client " + std::to_string(m_ctx_id) + " (" + m_name + ")";
    spdlog::info("{}: renderer created", m_log_prefix);
    return true;
}

bool Session::handle_ping(std::span<const std::uint32_t>) {
    return reply(static_cast<std::uint32_t>(Command::PingProtocolVersion), {});
}

bool Session::handle_busy_wait(std::span<const std::uint32_t> p) {
    // Mesa sends handle 0 right after PING_PROTOCOL_VERSION as its probe. Blob resources have no
    // pending transfers, so a known one is never busy.
    const std::uint32_t handle = p[0];
    if (handle != 0 && !m_resources.contains(handle))
        return fail("RESOURCE_BUSY_WAIT on unknown resource " + std::to_string(handle));
    const std::uint32_t busy = 0;
    return reply(static_cast<std::uint32_t>(Command::ResourceBusyWait), {&busy, 1});
}

bool Session::handle_protocol_version(std::span<const std::uint32_t> p) {
    std::uint32_t version = std::min(p[0], kProtocolVersion);
    if (!reply(static_cast<std::uint32_t>(Command::ProtocolVersion), {&version, 1}))
        return false;
    if (version < kMinProtocolVersion) {
        return fail("asked for protocol version " + std::to_string(p[0]) + "; Venus needs " +
                    std::to_string(kMinProtocolVersion));
    }
    m_protocol_version = version;
    return true;
}

bool Session::handle_get_param(std::span<const std::uint32_t> p) {
    std::uint32_t out[2] = {0, 0};
    if (p[0] == kParamMaxTimelineCount) {
        out[0] = 1;
        out[1] = kMaxTimelineCount;
    }
    return reply(static_cast<std::uint32_t>(Command::GetParam), out);
}

bool Session::handle_get_capset(std::span<const std::uint32_t> p) {
    std::vector<std::uint32_t> out(1 + VN_PROXY_CAPSET_VENUS_SIZE / 4, 0);
    std::size_t size = 0;
    if (vn_proxy_get_capset(p[0], p[1], out.data() + 1, VN_PROXY_CAPSET_VENUS_SIZE, &size) !=
        VN_PROXY_OK) {
        spdlog::info("{}: capset {} version {} is not supported", m_log_prefix, p[0], p[1]);
        const std::uint32_t invalid = 0;
        return reply(static_cast<std::uint32_t>(Command::GetCapset), {&invalid, 1});
    }
    out[0] = 1;
    return reply(static_cast<std::uint32_t>(Command::GetCapset), out);
}

bool Session::handle_context_init(std::span<const std::uint32_t> p) {
    if (m_protocol_version < kMinProtocolVersion)
        return fail("CONTEXT_INIT before PROTOCOL_VERSION negotiated version 3");
    if (p[0] != kCapsetVenus)
        return fail("CONTEXT_INIT with capset " + std::to_string(p[0]) +
                    "; only Venus (4) is served");
    if (m_ctx)
        return fail("CONTEXT_INIT sent twice");
    const int result = m_factory(m_ctx_id, m_name, &m_ctx);
    if (result != VN_PROXY_OK) {
        m_ctx = nullptr;
        return fail(std::string("cannot create its Venus context: ") +
                    vn_proxy_result_string(result));
    }
    spdlog::info("{}: Venus context {} created", m_log_prefix, m_ctx_id);
    return true;
}

std::uint32_t Session::allocate_resource_id() {
    while (m_next_resource == 0 || m_resources.contains(m_next_resource))
        ++m_next_resource;
    return m_next_resource++;
}

bool Session::handle_create_blob(std::span<const std::uint32_t> p) {
    if (!m_ctx)
        return fail("RESOURCE_CREATE_BLOB before CONTEXT_INIT");
    const std::uint32_t type = p[0];
    const std::uint32_t flags = p[1];
    const std::uint64_t size = join64(p[2], p[3]);
    const std::uint64_t blob_id = join64(p[4], p[5]);
    if (size == 0)
        return fail("RESOURCE_CREATE_BLOB of size 0");
    if (flags & ~(kBlobFlagMappable | kBlobFlagShareable | kBlobFlagCrossDevice))
        return fail("RESOURCE_CREATE_BLOB with unknown flags " + std::to_string(flags));
    if (m_resources.size() >= kMaxResources)
        return fail("holds too many resources (" + std::to_string(kMaxResources) + ")");
    const std::uint32_t res_id = allocate_resource_id();

    UniqueFd fd;
    if (type == kBlobHost3d) {
        vn_proxy_blob blob{};
        const int result =
            vn_proxy_context_create_resource(m_ctx, res_id, blob_id, size, flags, &blob);
        if (result != VN_PROXY_OK) {
            return fail("RESOURCE_CREATE_BLOB (blob_id " + std::to_string(blob_id) + ", size " +
                        std::to_string(size) + ") failed: " + vn_proxy_result_string(result));
        }
        fd.reset(blob.fd);
        m_resources.emplace(res_id, true);
        // What the client can mmap or import: a shm memfd (host shmem, host-visible memory) or a
        // dma-buf. An opaque Vulkan fd means nothing to a vtest client.
        if (blob.fd_type != VN_PROXY_FD_SHM && blob.fd_type != VN_PROXY_FD_DMABUF) {
            return fail("RESOURCE_CREATE_BLOB: blob_id " + std::to_string(blob_id) +
                        " exports fd type " + std::to_string(blob.fd_type) +
                        ", which a vtest client cannot use");
        }
    } else if (type == kBlobGuest || type == kBlobHost3dGuest) {
        // Guest memory: the server allocates it, as virglrenderer's vtest does, and lends it to the
        // worker as an imported shm resource.
        if (size > kMaxGuestBlobSize)
            return fail("RESOURCE_CREATE_BLOB: guest blob of " + std::to_string(size) + " bytes");
        fd.reset(::memfd_create("vtest-guest-blob", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0 ||
            ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
            return fail(std::string("cannot allocate a guest blob: ") + std::strerror(errno));
        const int result =
            vn_proxy_context_import_resource(m_ctx, res_id, VN_PROXY_FD_SHM, fd.get(), size);
        if (result != VN_PROXY_OK)
            return fail(std::string("cannot lend a guest blob to the worker: ") +
                        vn_proxy_result_string(result));
        m_resources.emplace(res_id, true);
    } else {
        return fail("RESOURCE_CREATE_BLOB with unknown blob type " + std::to_string(type));
    }
    spdlog::debug("{}: resource {} (type {}, blob_id {}, {} bytes)", m_log_prefix, res_id, type,
                  blob_id, size);
    return reply(static_cast<std::uint32_t>(Command::ResourceCreateBlob), {&res_id, 1}) &&
           send_fd(fd.get());
}

bool Session::handle_resource_unref(std::span<const std::uint32_t> p) {
    const auto it = m_resources.find(p[0]);
    if (it == m_resources.end())
        return true; // as virglrenderer: unknown ids are ignored
    m_resources.erase(it);
    const int result = vn_proxy_context_destroy_resource(m_ctx, p[0]);
    if (result == VN_PROXY_ERROR_CONTEXT_LOST)
        return fail("its worker is gone");
    return true;
}

bool Session::handle_sync_create(std::span<const std::uint32_t> p) {
    if (m_syncs.size() >= kMaxSyncs)
        return fail("holds too many syncs (" + std::to_string(kMaxSyncs) + ")");
    while (m_next_sync == 0 || m_syncs.contains(m_next_sync))
        ++m_next_sync;
    const std::uint32_t id = m_next_sync++;
    m_syncs.emplace(id, join64(p[0], p[1]));
    return reply(static_cast<std::uint32_t>(Command::SyncCreate), {&id, 1});
}

bool Session::handle_sync_unref(std::span<const std::uint32_t> p) {
    m_syncs.erase(p[0]);
    return true;
}

bool Session::handle_sync_read(std::span<const std::uint32_t> p) {
    const auto it = m_syncs.find(p[0]);
    if (it == m_syncs.end())
        return fail("SYNC_READ of unknown sync " + std::to_string(p[0]));
    const std::uint32_t out[2] = {static_cast<std::uint32_t>(it->second),
                                  static_cast<std::uint32_t>(it->second >> 32)};
    return reply(static_cast<std::uint32_t>(Command::SyncRead), out);
}

bool Session::handle_sync_write(std::span<const std::uint32_t> p) {
    if (!m_syncs.contains(p[0]))
        return fail("SYNC_WRITE of unknown sync " + std::to_string(p[0]));
    signal(p[0], join64(p[1], p[2]));
    update_waits();
    return true;
}

void Session::signal(std::uint32_t sync_id, std::uint64_t value) {
    // A sync may be unref'd while a fence that signals it is in flight; then there is nothing to
    // do.
    const auto it = m_syncs.find(sync_id);
    if (it != m_syncs.end())
        it->second = value;
}

bool Session::satisfied(const Wait& wait) const {
    const auto reached = [&](const std::pair<std::uint32_t, std::uint64_t>& s) {
        const auto it = m_syncs.find(s.first);
        return it != m_syncs.end() && it->second >= s.second;
    };
    return wait.any ? std::any_of(wait.syncs.begin(), wait.syncs.end(), reached)
                    : std::all_of(wait.syncs.begin(), wait.syncs.end(), reached);
}

void Session::update_waits() {
    std::erase_if(m_waits, [&](const Wait& w) {
        if (!satisfied(w))
            return false;
        const std::uint64_t one = 1;
        (void)!::write(w.eventfd.get(), &one, sizeof(one));
        return true;
    });
}

bool Session::handle_sync_wait(std::span<const std::uint32_t> p) {
    if (p.size() < kSyncWaitHeaderSize || (p.size() - kSyncWaitHeaderSize) % 3 != 0)
        return fail("SYNC_WAIT: payload of " + std::to_string(p.size()) +
                    " words is not flags, timeout and (id, lo, hi) triples");
    Wait wait;
    wait.any = (p[0] & kSyncWaitFlagAny) != 0;
    const std::uint32_t timeout_ms = p[1];
    for (std::size_t i = kSyncWaitHeaderSize; i < p.size(); i += 3) {
        if (!m_syncs.contains(p[i]))
            return fail("SYNC_WAIT on unknown sync " + std::to_string(p[i]));
        wait.syncs.emplace_back(p[i], join64(p[i + 1], p[i + 2]));
    }
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!efd)
        return fail(std::string("eventfd: ") + std::strerror(errno));
    if (satisfied(wait)) {
        const std::uint64_t one = 1;
        (void)!::write(efd.get(), &one, sizeof(one));
    } else if (timeout_ms != 0) {
        if (m_waits.size() >= kMaxWaits)
            return fail("has too many pending waits (" + std::to_string(kMaxWaits) + ")");
        wait.eventfd.reset(::fcntl(efd.get(), F_DUPFD_CLOEXEC, 0));
        if (!wait.eventfd)
            return fail(std::string("dup: ") + std::strerror(errno));
        if (timeout_ms != kSyncWaitInfinite)
            wait.deadline =
                std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        m_waits.push_back(std::move(wait));
    }
    return reply(static_cast<std::uint32_t>(Command::SyncWait), {}) && send_fd(efd.get());
}

bool Session::handle_submit_cmd2(std::span<const std::uint32_t> p) {
    if (!m_ctx)
        return fail("SUBMIT_CMD2 before CONTEXT_INIT");
    if (p.empty())
        return fail("SUBMIT_CMD2 without a batch count");
    const std::uint64_t count = p[0];
    if (count > kMaxBatches)
        return fail("SUBMIT_CMD2 with " + std::to_string(count) + " batches");
    // Mesa writes 6-word batch descriptors and puts the first command stream right after them;
    // virglrenderer's layout has 8-word descriptors. Batch 0's cmd_offset tells them apart (for one
    // batch the two agree on every field).
    std::uint64_t stride = kBatchWordsMesa;
    if (count > 1 && p.size() > 1 + kBatchCmdOffset &&
        p[1 + kBatchCmdOffset] >= 1 + kBatchWordsVirgl * count)
        stride = kBatchWordsVirgl;
    if (1 + stride * count > p.size())
        return fail("SUBMIT_CMD2: " + std::to_string(count) + " batch descriptors do not fit in " +
                    std::to_string(p.size()) + " words");
    for (std::uint64_t b = 0; b < count; ++b) {
        const auto d = p.subspan(1 + stride * b, kBatchWordsMesa);
        const std::uint32_t flags = d[kBatchFlags];
        const std::uint64_t cmd_offset = d[kBatchCmdOffset];
        const std::uint64_t cmd_size = d[kBatchCmdSize];
        const std::uint64_t sync_offset = d[kBatchSyncOffset];
        const std::uint64_t sync_count = d[kBatchSyncCount];
        const std::uint32_t ring = d[kBatchRingIdx];
        const std::string what = "SUBMIT_CMD2 batch " + std::to_string(b);
        if (flags & ~kSubmitFlagRingIdx)
            return fail(what + ": unsupported flags " + std::to_string(flags));
        if (cmd_offset + cmd_size > p.size())
            return fail(what + ": command stream [" + std::to_string(cmd_offset) + ", +" +
                        std::to_string(cmd_size) + ") outside the " + std::to_string(p.size()) +
                        "-word message");
        if (sync_offset + 3 * sync_count > p.size())
            return fail(what + ": " + std::to_string(sync_count) + " syncs at word " +
                        std::to_string(sync_offset) + " outside the message");
        if ((flags & kSubmitFlagRingIdx) && ring >= kMaxTimelineCount)
            return fail(what + ": ring_idx " + std::to_string(ring) + " out of range");
        PendingFence fence;
        for (std::uint64_t i = 0; i < sync_count; ++i) {
            const auto s = p.subspan(sync_offset + 3 * i, 3);
            if (!m_syncs.contains(s[0]))
                return fail(what + ": unknown sync " + std::to_string(s[0]));
            fence.syncs.emplace_back(s[0], join64(s[1], s[2]));
        }
        if (cmd_size != 0) {
            const int result = vn_proxy_context_submit_cmd(m_ctx, p.data() + cmd_offset,
                                                           cmd_size * sizeof(std::uint32_t));
            if (result != VN_PROXY_OK)
                return fail(what + ": the worker did not take the command stream: " +
                            vn_proxy_result_string(result));
        }
        if (fence.syncs.empty())
            continue;
        if (!(flags & kSubmitFlagRingIdx)) {
            for (const auto& [id, value] : fence.syncs)
                signal(id, value);
            update_waits();
            continue;
        }
        // The syncs signal when the worker retires a fence submitted behind the commands on that
        // ring: ring 0 right after the commands were executed, a queue's ring after its work.
        if (m_pending_count >= kMaxPendingFences)
            return fail("has too many fences in flight");
        const int result = vn_proxy_context_submit_fence(m_ctx, ring, &fence.seqno);
        if (result != VN_PROXY_OK)
            return fail(what + ": cannot submit a fence on ring " + std::to_string(ring) + ": " +
                        vn_proxy_result_string(result));
        m_pending[ring].push_back(std::move(fence));
        ++m_pending_count;
    }
    return true;
}

bool Session::retire_fences() {
    if (!m_ctx)
        return true;
    bool any = false;
    for (std::uint32_t ring = 0; ring < kMaxTimelineCount; ++ring) {
        auto& queue = m_pending[ring];
        if (queue.empty())
            continue;
        std::uint32_t retired = 0;
        if (vn_proxy_context_retired_seqno(m_ctx, ring, &retired) != VN_PROXY_OK)
            continue;
        while (!queue.empty() && static_cast<std::int32_t>(retired - queue.front().seqno) >= 0) {
            for (const auto& [id, value] : queue.front().syncs)
                signal(id, value);
            queue.pop_front();
            --m_pending_count;
            any = true;
        }
    }
    if (any)
        update_waits();
    return true;
}

} // namespace vn::vtest
