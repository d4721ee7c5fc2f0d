#include "worker.h"

#include "log.h"

#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

namespace vn::server {

std::string describe_wait_status(int code, int status) {
    switch (code) {
    case CLD_EXITED:
        return "exited with status " + std::to_string(status);
    case CLD_KILLED:
    case CLD_DUMPED:
        return std::string("killed by signal ") +
               (sigabbrev_np(status) ? sigabbrev_np(status) : "?");
    default:
        return "ended (code " + std::to_string(code) + ")";
    }
}

ProcessWorker::~ProcessWorker() {
    if (m_reaped)
        return;
    // The pid cannot have been recycled: it stays ours until we reap it.
    ::kill(m_pid, SIGKILL);
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED) < 0 && errno == EINTR) {
    }
}

std::optional<std::string> ProcessWorker::try_reap() {
    if (m_reaped)
        return std::nullopt;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG) != 0 ||
        info.si_pid == 0)
        return std::nullopt;
    m_reaped = true;
    return describe_wait_status(info.si_code, info.si_status);
}

ThreadWorker::ThreadWorker(os::UniqueFd socket, ContextConfig config)
    : m_wakeup(::fcntl(socket.get(), F_DUPFD_CLOEXEC, 0)) {
    m_thread = std::thread([socket = std::move(socket), config = std::move(config)]() mutable {
        ContextLoop loop(std::move(socket), std::move(config));
        (void)loop.run();
    });
}

ThreadWorker::~ThreadWorker() {
    if (m_wakeup)
        ::shutdown(m_wakeup.get(), SHUT_RDWR);
    if (m_thread.joinable())
        m_thread.join();
}

namespace {

[[noreturn]] void run_forked_worker(const ContextConfig& config, int socket_fd, JailHook& jail,
                                    pid_t server_pid) {
    // The server blocks SIGCHLD for its signalfd; the worker must not inherit that.
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGCHLD, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);

    // A worker outliving its server would keep a context alive that nobody can destroy.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != server_pid)
        ::_exit(1);

    // Leave the worker only its context socket and stdio: other clients' sockets, the listening
    // socket and sibling contexts' sockets must not be reachable from a guest-driven process.
    constexpr int kSocketFd = 3;
    if (socket_fd != kSocketFd) {
        if (::dup2(socket_fd, kSocketFd) < 0)
            ::_exit(1);
    }
    ::fcntl(kSocketFd, F_SETFD, FD_CLOEXEC);
    if (::syscall(SYS_close_range, kSocketFd + 1, ~0u, 0) != 0)
        ::_exit(1);

    char name[16];
    std::snprintf(name, sizeof(name), "vn-ctx-%u", config.ctx_id);
    ::prctl(PR_SET_NAME, name);

    if (!jail.setup(config.ctx_id, kSocketFd) || !jail.narrow(config.ctx_id)) {
        spdlog::error("context {}: cannot enter the worker jail", config.ctx_id);
        ::_exit(1);
    }
    int code;
    {
        ContextLoop loop(os::UniqueFd(kSocketFd), config);
        code = loop.run();
    }
    spdlog::default_logger()->flush();
    // _exit: the server's objects copied into this process must not run their destructors.
    ::_exit(code);
}

} // namespace

std::unique_ptr<Worker> ProcessLauncher::launch(const ContextConfig& config, os::UniqueFd socket) {
    const pid_t server_pid = ::getpid();
    spdlog::default_logger()->flush();
    const pid_t pid = ::fork();
    if (pid < 0) {
        spdlog::error("context {}: fork failed: {}", config.ctx_id, std::strerror(errno));
        return nullptr;
    }
    if (pid == 0)
        run_forked_worker(config, socket.get(), m_jail, server_pid);
    spdlog::debug("context {}: worker pid {}", config.ctx_id, pid);
    return std::make_unique<ProcessWorker>(pid);
}

std::unique_ptr<Worker> ThreadLauncher::launch(const ContextConfig& config, os::UniqueFd socket) {
    return std::make_unique<ThreadWorker>(std::move(socket), config);
}

} // namespace vn::server
