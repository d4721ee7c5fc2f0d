#include "client_connection.h"

#include "log.h"
#include "vn/server/protocol/seqpacket.h"

#include <sys/socket.h>
#include <sys/wait.h>

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
    for (auto it = m_contexts.begin(); it != m_contexts.end();) {
        if (auto status = it->second->try_reap()) {
            // A clean exit is the worker seeing the VMM close the context socket; anything else
            // lost the context under the VMM's feet.
            const bool clean = *status == describe_wait_status(CLD_EXITED, 0);
            spdlog::log(clean ? spdlog::level::debug : spdlog::level::warn,
                        "{}: context {} {}: worker {} {}", m_description, it->first,
                        clean ? "ended" : "lost", it->second->pid(), *status);
            it = m_contexts.erase(it);
        } else {
            ++it;
        }
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
    m_contexts.clear();
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
    m_contexts.emplace(req.ctx_id, std::move(launched->worker));
    return reply_create_context(true, launched->client_socket.get());
}

bool ClientConnection::handle_destroy_context(std::span<const std::byte> bytes,
                                              std::vector<UniqueFd>&) {
    const auto req = request_as<protocol::ClientDestroyContextRequest>(bytes);
    const auto it = m_contexts.find(req.ctx_id);
    if (it == m_contexts.end()) {
        // Also the normal path for a context whose worker already died and was reaped.
        spdlog::debug("{}: DESTROY_CONTEXT: no context {}", m_description, req.ctx_id);
        return true;
    }
    m_contexts.erase(it);
    spdlog::debug("{}: context {} destroyed", m_description, req.ctx_id);
    return true;
}

} // namespace vn::server
