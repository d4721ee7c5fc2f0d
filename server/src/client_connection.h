#pragma once
// One VMM connection: the client ops of render_client.c, and the records of the contexts it
// created. Connections are isolated from each other: a context id is only looked up in its own
// connection, and a connection's workers die with it.
#include "dispatcher.h"
#include "vn/os/unique_fd.h"
#include "vn/server/protocol/render_protocol.h"
#include "worker.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vn::server {

class ClientConnection {
  public:
    ClientConnection(os::UniqueFd socket, WorkerLauncher& launcher, std::string description);
    ~ClientConnection();

    int fd() const { return m_socket.get(); }
    const std::string& description() const { return m_description; }

    // Handles one datagram. False when the connection is gone (peer closed or socket error).
    bool on_readable();
    // Reaps exited workers, logs how each context ended, and forgets them: the VMM sees the
    // context socket close. Also kills destroyed workers whose grace period is over.
    void reap_workers();
    std::size_t context_count() const { return m_contexts.size(); }
    // When reap_workers() must run next to kill a destroyed worker that did not exit.
    std::optional<std::chrono::steady_clock::time_point> next_deadline() const;
    // One "context N stats:" line per live context (the operator's SIGUSR1).
    void log_stats() const;

    // How long a destroyed context's worker may take to exit by itself (it sees the VMM close
    // the context socket first) before it is killed; its own end is what gets logged.
    static constexpr std::chrono::milliseconds kDestroyGrace{2000};

  private:
    bool handle_nop(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_init(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_reset(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_create_context(std::span<const std::byte>, std::vector<os::UniqueFd>&);
    bool handle_destroy_context(std::span<const std::byte>, std::vector<os::UniqueFd>&);

    bool reply_create_context(bool ok, int fd);

    struct ContextRecord {
        std::string name;
        std::unique_ptr<Worker> worker;
        std::chrono::steady_clock::time_point deadline{}; // once destroyed
    };
    // Why the server itself ended a context, when it did.
    enum class ServerEnd { None, Destroy, Reset, Disconnect };
    void log_end(std::uint32_t ctx_id, const ContextRecord& record, const WaitStatus& status,
                 bool destroyed, ServerEnd server_end) const;
    // Stops every worker (whatever ended first is what is logged) and forgets the contexts.
    void end_all(ServerEnd why);

    using Table = Dispatcher<protocol::ClientOp, ClientConnection,
                             static_cast<std::size_t>(protocol::ClientOp::Count)>;
    static const Table& table();

    os::UniqueFd m_socket;
    WorkerLauncher& m_launcher;
    std::string m_description;
    std::uint32_t m_init_flags = 0;
    std::map<std::uint32_t, ContextRecord> m_contexts;
    // Destroyed contexts whose worker has not exited yet; their ids are free again.
    std::vector<std::pair<std::uint32_t, ContextRecord>> m_destroyed;
    // Workers that exited cleanly because the VMM closed the context socket, which it does right
    // before DESTROY_CONTEXT: logged once that arrives (a destroy), or after kCloseWait (the VMM
    // only closed). Their ids are free again.
    struct Exited {
        std::uint32_t ctx_id;
        ContextRecord record;
        WaitStatus status;
    };
    std::vector<Exited> m_exited;
    static constexpr std::chrono::milliseconds kCloseWait{500};
};

} // namespace vn::server
