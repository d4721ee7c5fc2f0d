#pragma once
// The process that forks spare workers on the server's behalf.
//
// The server forks it once, after the driver preload and before any client, and asks it for each
// spare with one byte. Why not fork in the server: a fork of the server stalls the server's loop
// for as long as copying its page tables takes (a CREATE_CONTEXT that arrives meanwhile waits),
// and it marks every page of the server's heap copy-on-write, so the server then faults them back
// one by one as it serves (about fifty faults per context on lavapipe, measured with perf). The
// zygote is a copy of the server taken before any of that, and it writes almost nothing.
//
// Its children are the server's (vn::os::fork_sibling), so the server reaps them, gets
// their SIGCHLD and is the parent their jail and PR_SET_PDEATHSIG expect, exactly as for a spare
// the server forked itself. The zygote takes the jail's process-wide steps once (JailHook::
// become_forker) and makes each child in its namespaces, where it is PID 1 from the start: one
// process per worker instead of a fork and the jail's hand-over. Each answer carries the spare's
// pid, the server's end of its socket and the memfd of its report (worker_report.h). The zygote is
// as trusted as the server: it never runs guest-driven code, holds no client's fd, and dies with
// the server.
#include "vn/os/unique_fd.h"
#include "worker_report.h"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace vn::server {

class Zygote {
  public:
    // How a child came to be, for its jail and its first checks.
    struct Birth {
        std::uint64_t namespaces = 0; // CLONE_NEW* flags it was made with
        // A pidfd of the server: a child in a PID namespace of its own cannot ask getppid()
        // whether the server still lives. -1 where the kernel has none; the child is then made
        // in no namespace.
        int server_pidfd = -1;
    };
    // Runs in each forked child and never returns: the worker's end of its socket, its report
    // and its pid slot, mapped from the report's memfd.
    using Spawn = std::function<void(const Birth& birth, int socket_fd, WorkerReport* report,
                                     pid_t* pid_slot)>;
    // Runs once in the zygote before its first fork; returns the namespaces to make children in.
    using BecomeForker = std::function<std::uint64_t()>;

    // Forks the zygote; it keeps only stderr, its control socket and `keep_fds` (the jail's).
    // nullptr, logged, where it cannot be started: the server then forks spares itself.
    static std::unique_ptr<Zygote> start(Spawn spawn, std::vector<int> keep_fds,
                                         BecomeForker become_forker);
    // Ends the zygote and reaps it. Spares it forked are the server's to reap.
    ~Zygote();
    Zygote(const Zygote&) = delete;
    Zygote& operator=(const Zygote&) = delete;

    // The control socket, for the server's poll(): readable when an answer is there.
    int fd() const { return m_control.get(); }
    pid_t pid() const { return m_pid; }

    // Asks for one spare; false when the zygote is gone.
    bool request();

    struct Spawned {
        pid_t pid = -1;
        os::UniqueFd socket; // the server's end
        SharedReport report;
    };
    struct Answer {
        enum class Kind {
            None,   // nothing yet
            Spare,  // `spare` holds one
            Failed, // the zygote could not fork that one (logged)
            Gone,   // it hung up or sent something malformed (logged): ask it no more
        };
        Kind kind = Kind::None;
        std::optional<Spawned> spare;
    };
    // One answer, waiting at most timeout_ms for it (0: only one already there).
    Answer receive(int timeout_ms);

  private:
    Zygote(pid_t pid, os::UniqueFd control) : m_pid(pid), m_control(std::move(control)) {}
    pid_t m_pid;
    os::UniqueFd m_control;
};

} // namespace vn::server
