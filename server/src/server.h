#pragma once
// The server process: one poll loop over the listening sockets, the VMM connections and a SIGCHLD
// signalfd. Workers are reaped here; a connection that goes away takes its workers with it.
#include "client_connection.h"
#include "vn/os/unique_fd.h"
#include "worker.h"

#include <memory>
#include <vector>

namespace vn::server {

class Server {
  public:
    explicit Server(WorkerLauncher& launcher);
    ~Server();

    // Blocks SIGCHLD/SIGTERM/SIGINT and opens the signalfd; must run before any worker exists.
    bool init();
    void add_client(os::UniqueFd socket, std::string description);
    void add_listener(os::UniqueFd socket);

    // Returns the process exit status. Ends when no listener and no client is left, or on
    // SIGTERM/SIGINT.
    int run();

  private:
    void accept_clients(int listener);
    bool drain_signals();
    void reap_all();

    WorkerLauncher& m_launcher;
    os::UniqueFd m_signalfd;
    std::vector<os::UniqueFd> m_listeners;
    std::vector<std::unique_ptr<ClientConnection>> m_clients;
    unsigned m_next_client = 1;
};

} // namespace vn::server
