#pragma once
// One VMM connection: the client ops of render_client.c, and the records of the contexts it
// created. Connections are isolated from each other: a context id is only looked up in its own
// connection, and a connection's workers die with it.
#include "dispatcher.h"
#include "vn/os/unique_fd.h"
#include "vn/server/protocol/render_protocol.h"
#include "worker.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace vn::server {

class ClientConnection {
  public:
    ClientConnection(os::UniqueFd socket, WorkerLauncher& launcher, std::string description);
    ~ClientConnection();

    int fd() const { return m_socket.get(); }
    const std::string& description() const { return m_description; }

    // Handles one datagram. False when the connection is gone (peer closed or socket error).
    bool on_readable();
    // Reaps exited workers and forgets their contexts: the VMM sees the context socket close.
    void reap_workers();
    std::size_t context_count() const { return m_contexts.size(); }

  private:
    bool handle_nop(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_init(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_reset(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_create_context(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_destroy_context(std::span<const std::byte>, std::vector<os::UniqueFd>&);

    bool reply_create_context(bool ok, int fd);

    using Table = Dispatcher<protocol::ClientOp, ClientConnection,
                             static_cast<std::size_t>(protocol::ClientOp::Count)>;
    static const Table& table();

    os::UniqueFd m_socket;
    WorkerLauncher& m_launcher;
    std::string m_description;
    std::uint32_t m_init_flags = 0;
    std::map<std::uint32_t, std::unique_ptr<Worker>> m_contexts;
};

} // namespace vn::server
