#include "client_connection.h"

#include "log.h"
#include "vn/server/protocol/seqpacket.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace vn::server {

using os::UniqueFd;
using protocol::ClientOp;

const ClientConnection::Table& ClientConnection::table() {
    namespace p = protocol;
    static const Table kTable({{
        {ClientOp::Nop, sizeof(p::ClientNopRequest), 0, &ClientConnection::handle_nop, "NOP"},
        {ClientOp::Init, sizeof(p::ClientInitRequest), 0, &ClientConnection::handle_init, "INIT"},
        {ClientOp::Reset, sizeof(p::ClientResetRequest), 0, &ClientConnection::handle_reset,
         "RESET"},
        {ClientOp::CreateContext, sizeof(p::ClientCreateContextRequest), 0,
         &ClientConnection::handle_create_context, "CREATE_CONTEXT"},
        {ClientOp::DestroyContext, sizeof(p::ClientDestroyContextRequest), 0,
         &ClientConnection::handle_destroy_context, "DESTROY_CONTEXT"},
    }});
    return kTable;
}

ClientConnection::ClientConnection(UniqueFd socket, WorkerLauncher& launcher,
                                   std::string description)
    : m_socket(std::move(socket)), m_launcher(launcher), m_description(std::move(description)) {
    spdlog::info("{}: connected", m_description);
}

ClientConnection::~ClientConnection() {
    if (!m_contexts.empty())
        spdlog::info("{}: stopping {} workers", m_description, m_contexts.size());
    end_all(ServerEnd::Disconnect);
}

namespace {

const char* signal_name(int sig) {
    const char* name = sigabbrev_np(sig);
    return name ? name : "?";
}

const char* phase_name(std::uint32_t phase) {
    switch (static_cast<WorkerPhase>(phase)) {
    case WorkerPhase::Starting:
        return "starting";
    case WorkerPhase::Serving:
        return "serving";
    case WorkerPhase::PeerClosed:
        return "closing";
    case WorkerPhase::Fatal:
        return "fatal";
    case WorkerPhase::Crashed:
        return "crashed";
    case WorkerPhase::Violation:
        return "seccomp-violation";
    case WorkerPhase::OutOfMemory:
        return "out-of-memory";
    }
    return "?";
}

} // namespace

void ClientConnection::log_end(std::uint32_t ctx_id, const ContextRecord& record,
                               const WaitStatus& status, bool destroyed,
                               ServerEnd server_end) const {
    const WorkerReport* report = record.worker->report();
    const auto phase = static_cast<WorkerPhase>(report ? report->phase.load() : 0);
    // The worker's own account comes first: it was written before anything (our SIGKILL
    // included) could end the worker, so a kill racing a death cannot hide the real cause.
    std::string cause;
    auto level = spdlog::level::warn;
    const int sig = status.signaled() ? status.status : 0;
    if (phase == WorkerPhase::Violation || sig == SIGSYS) {
        const int nr = report ? report->syscall.load() : -1;
        cause = "cause=seccomp-violation syscall=" +
                (nr >= 0 ? std::to_string(nr) + " syscall_name=" + syscall_name(nr)
                         : std::string("unknown"));
        level = spdlog::level::err;
    } else if (phase == WorkerPhase::OutOfMemory) {
        cause = "cause=oom detail=\"a host allocation failed in the worker (rlimit or memory "
                "cgroup)\"";
        level = spdlog::level::err;
    } else if (phase == WorkerPhase::Crashed) {
        const int reported = report->signal.load();
        cause = std::string(reported == SIGXCPU || reported == SIGXFSZ ? "cause=rlimit"
                                                                       : "cause=signal") +
                " signal=" + signal_name(reported);
        level = spdlog::level::err;
    } else if (phase == WorkerPhase::Fatal) {
        cause = "cause=fatal reason=\"" + report_reason(*report) + "\"";
    } else if (sig != 0 && server_end == ServerEnd::None) {
        // Not ours: another process, or the kernel (OOM killer, CPU or file size rlimit).
        if (sig == SIGXCPU || sig == SIGXFSZ)
            cause = std::string("cause=rlimit signal=") + signal_name(sig);
        else if (sig == SIGKILL)
            cause = "cause=signal signal=KILL detail=\"not sent by the server: the kernel's OOM "
                    "killer or another process\"";
        else
            cause = std::string("cause=signal signal=") + signal_name(sig);
        level = spdlog::level::err;
    } else if (status.exited() && status.status == 0) {
        cause = destroyed ? "cause=destroy"
                          : "cause=closed detail=\"the VMM closed the context "
                            "socket without DESTROY_CONTEXT\"";
        level = spdlog::level::info;
    } else if (server_end != ServerEnd::None) {
        if (destroyed)
            cause = server_end == ServerEnd::Destroy
                        ? "cause=destroy detail=\"killed: did not exit within the grace period\""
                        : "cause=destroy detail=\"killed while it exited: the VMM reset or went "
                          "away\"";
        else
            cause = server_end == ServerEnd::Reset ? "cause=reset" : "cause=disconnect";
        level = spdlog::level::info;
    } else {
        cause = "cause=exit status=" + std::to_string(status.status);
    }
    spdlog::log(level, "context {} end: client=\"{}\" name=\"{}\" pid={} {} wait=\"{}\" {}{}",
                ctx_id, printable(m_description), printable(record.name), record.worker->pid(),
                cause, describe_wait_status(status),
                status.cpu_us >= 0
                    ? fmt::format("cpu_ms={:.2f} ", static_cast<double>(status.cpu_us) / 1000.0)
                    : "",
                report ? format_counters(report->counters) : std::string("counters=none"));
}

void ClientConnection::log_stats() const {
    for (const auto& [ctx_id, record] : m_contexts) {
        const WorkerReport* report = record.worker->report();
        spdlog::info("context {} stats: client=\"{}\" name=\"{}\" pid={} phase={} {}", ctx_id,
                     printable(m_description), printable(record.name), record.worker->pid(),
                     report ? phase_name(report->phase.load()) : "?",
                     report ? format_counters(report->counters) : std::string("counters=none"));
    }
}

std::optional<std::chrono::steady_clock::time_point> ClientConnection::next_deadline() const {
    std::optional<std::chrono::steady_clock::time_point> next;
    for (const auto& [ctx_id, record] : m_destroyed)
        if (!next || record.deadline < *next)
            next = record.deadline;
    for (const auto& e : m_exited)
        if (!next || e.record.deadline < *next)
            next = e.record.deadline;
    return next;
}

void ClientConnection::end_all(ServerEnd why) {
    for (auto& [ctx_id, record] : m_contexts) {
        const auto own = record.worker->try_reap();
        log_end(ctx_id, record, own ? *own : record.worker->kill_and_reap(), false,
                own ? ServerEnd::None : why);
    }
    m_contexts.clear();
    for (auto& [ctx_id, record] : m_destroyed) {
        // Destroyed, and stopped before it finished exiting by itself: still a destroy.
        const auto own = record.worker->try_reap();
        log_end(ctx_id, record, own ? *own : record.worker->kill_and_reap(), true,
                own ? ServerEnd::None : why);
    }
    m_destroyed.clear();
    for (const auto& e : m_exited)
        log_end(e.ctx_id, e.record, e.status, false, ServerEnd::None);
    m_exited.clear();
}

bool ClientConnection::on_readable() {
    std::array<std::byte, protocol::kClientRequestMaxSize> buffer;
    auto received = protocol::recv_message(m_socket.get(), buffer, MSG_DONTWAIT);
    switch (received.status) {
    case protocol::RecvStatus::Ok:
        break;
    case protocol::RecvStatus::Closed:
        spdlog::info("{}: disconnected", m_description);
        return false;
    case protocol::RecvStatus::Truncated:
        // SEQPACKET kept the framing, so the stream is still in sync: drop this message only.
        spdlog::error("{}: rejected a truncated or oversized request ({}+ bytes)", m_description,
                      received.size);
        return true;
    case protocol::RecvStatus::BadControl:
        spdlog::error("{}: rejected a request with an unexpected control message", m_description);
        return true;
    case protocol::RecvStatus::Error:
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return true;
        spdlog::error("{}: receive failed: {}", m_description, std::strerror(errno));
        return false;
    }

    const std::span<const std::byte> request(buffer.data(), received.size);
    std::string error;
    const auto* row = table().check(request, received.fds.size(), error);
    if (!row) {
        // virglrenderer's server exits here; one bad message from a VMM does not justify killing
        // every context it has, and the SEQPACKET framing is intact, so only the message goes.
        spdlog::error("{}: rejected request: {}", m_description, error);
        return true;
    }
    if (!(this->*(row->handler))(request, received.fds))
        spdlog::warn("{}: {} failed", m_description, row->name);
    return true;
}

void ClientConnection::reap_workers() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = m_contexts.begin(); it != m_contexts.end();) {
        if (auto status = it->second.worker->try_reap()) {
            const WorkerReport* report = it->second.worker->report();
            if (status->exited() && status->status == 0 && report &&
                report->phase.load() == static_cast<std::uint32_t>(WorkerPhase::PeerClosed)) {
                it->second.deadline = now + kCloseWait;
                m_exited.push_back({it->first, std::move(it->second), *status});
            } else {
                log_end(it->first, it->second, *status, false, ServerEnd::None);
            }
            it = m_contexts.erase(it);
        } else {
            ++it;
        }
    }
    std::erase_if(m_exited, [&](const Exited& e) {
        if (now < e.record.deadline)
            return false;
        log_end(e.ctx_id, e.record, e.status, false, ServerEnd::None);
        return true;
    });
    for (auto it = m_destroyed.begin(); it != m_destroyed.end();) {
        auto& [ctx_id, record] = *it;
        if (auto status = record.worker->try_reap()) {
            log_end(ctx_id, record, *status, true, ServerEnd::None);
        } else if (now >= record.deadline) {
            log_end(ctx_id, record, record.worker->kill_and_reap(), true, ServerEnd::Destroy);
        } else {
            ++it;
            continue;
        }
        it = m_destroyed.erase(it);
    }
}

bool ClientConnection::handle_nop(std::span<const std::byte>, std::vector<UniqueFd>&) {
    return true;
}

bool ClientConnection::handle_init(std::span<const std::byte> bytes, std::vector<UniqueFd>&) {
    const auto req = request_as<protocol::ClientInitRequest>(bytes);
    m_init_flags = req.flags;
    spdlog::debug("{}: INIT flags {:#x}", m_description, req.flags);
    return true;
}

bool ClientConnection::handle_reset(std::span<const std::byte>, std::vector<UniqueFd>&) {
    spdlog::info("{}: RESET drops {} contexts", m_description, m_contexts.size());
    end_all(ServerEnd::Reset);
    return true;
}

bool ClientConnection::reply_create_context(bool ok, int fd) {
    const protocol::ClientCreateContextReply reply{ok};
    const bool sent =
        ok ? protocol::send_struct(m_socket.get(), reply, std::span<const int>(&fd, 1))
           : protocol::send_struct(m_socket.get(), reply);
    if (!sent)
        spdlog::error("{}: cannot send CREATE_CONTEXT reply: {}", m_description,
                      std::strerror(errno));
    return sent && ok;
}

bool ClientConnection::handle_create_context(std::span<const std::byte> bytes,
                                             std::vector<UniqueFd>&) {
    const auto req = request_as<protocol::ClientCreateContextRequest>(bytes);
    ContextConfig config;
    config.ctx_id = req.ctx_id;
    // Only 31 bytes count; the NUL is forced, as in virglrenderer.
    config.name.assign(req.ctx_name, strnlen(req.ctx_name, sizeof(req.ctx_name) - 1));
    config.init_flags = m_init_flags;

    if (req.ctx_id == 0) {
        spdlog::error("{}: CREATE_CONTEXT: context id 0 is reserved", m_description);
        return reply_create_context(false, -1);
    }
    // A dead worker's record may still be here if SIGCHLD is pending; reap before judging reuse.
    reap_workers();
    // A context with this id that ended without DESTROY_CONTEXT is over: the id is reused.
    std::erase_if(m_exited, [&](const Exited& e) {
        if (e.ctx_id != req.ctx_id)
            return false;
        log_end(e.ctx_id, e.record, e.status, false, ServerEnd::None);
        return true;
    });
    if (m_contexts.contains(req.ctx_id)) {
        spdlog::error("{}: CREATE_CONTEXT: context id {} is in use", m_description, req.ctx_id);
        return reply_create_context(false, -1);
    }
    if (m_contexts.size() >= protocol::kMaxContextsPerClient) {
        spdlog::error("{}: CREATE_CONTEXT: too many contexts", m_description);
        return reply_create_context(false, -1);
    }

    auto launched = m_launcher.launch(config);
    if (!launched)
        return reply_create_context(false, -1);
    spdlog::debug("{}: context {} ({}) created, worker {}", m_description, req.ctx_id,
                  printable(config.name), launched->worker->pid());
    m_contexts.emplace(req.ctx_id, ContextRecord{config.name, std::move(launched->worker)});
    return reply_create_context(true, launched->client_socket.get());
}

bool ClientConnection::handle_destroy_context(std::span<const std::byte> bytes,
                                              std::vector<UniqueFd>&) {
    const auto req = request_as<protocol::ClientDestroyContextRequest>(bytes);
    if (const auto done = std::find_if(m_exited.begin(), m_exited.end(),
                                       [&](const Exited& e) { return e.ctx_id == req.ctx_id; });
        done != m_exited.end()) {
        log_end(done->ctx_id, done->record, done->status, true, ServerEnd::None);
        m_exited.erase(done);
        return true;
    }
    const auto it = m_contexts.find(req.ctx_id);
    if (it == m_contexts.end()) {
        // Also the normal path for a context whose worker already died and was reaped.
        spdlog::debug("{}: DESTROY_CONTEXT: no context {}", m_description, req.ctx_id);
        return true;
    }
    ContextRecord record = std::move(it->second);
    m_contexts.erase(it);
    spdlog::debug("{}: context {} destroyed", m_description, req.ctx_id);
    if (auto status = record.worker->try_reap()) {
        log_end(req.ctx_id, record, *status, true, ServerEnd::None);
    } else if (record.worker->pid() == 0) {
        // A thread worker ends as soon as its socket is shut down.
        log_end(req.ctx_id, record, record.worker->kill_and_reap(), true, ServerEnd::None);
    } else {
        // Reaped (and logged) once it exits: what it dies of, if it dies, is its own end.
        record.deadline = std::chrono::steady_clock::now() + kDestroyGrace;
        m_destroyed.emplace_back(req.ctx_id, std::move(record));
    }
    return true;
}

} // namespace vn::server
