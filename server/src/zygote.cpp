#include "zygote.h"

#include "log.h"
#include "vn/os/fd_table.h"
#include "vn/os/process.h"
#include "vn/server/protocol/seqpacket.h"

#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>

namespace vn::server {

namespace {

using os::UniqueFd;

struct Message {
    std::int32_t pid = -1; // the spare's, or -errno of the failed step
};

bool socket_pair(UniqueFd& a, UniqueFd& b) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return false;
    a.reset(pair[0]);
    b.reset(pair[1]);
    return true;
}

// One spare in set-up at a time: the next fork waits until the previous spare is jailed and
// waits for its context (WorkerReport::spare_ready), or until kReadyWaitMs have passed. When
// contexts start faster than spares are made, each context waits for the spare in set-up; a
// second spare set up beside it would share the CPU with it and make that wait longer
// (back-to-back start p99 on a 2-core host, about 5 %). Spares that wait idle are not affected:
// both are ready long before the next context.
// The flag is in memory the spare shares, and the spare may since serve a guest: the bound is
// all that a spare that died in its set-up, or a worker that clears its flag again, can cost the
// next fork (a set-up takes 2-6 ms on a loaded 2-core host).
void wait_for_previous(std::optional<SharedReport>& previous) {
    constexpr auto kReadyWaitMs = 20;
    WorkerReport* report = previous ? previous->get() : nullptr;
    if (!report)
        return;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadyWaitMs);
    while (report->spare_ready.load(std::memory_order_acquire) == 0) {
        const auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::nanoseconds::zero())
            break;
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        const timespec timeout{static_cast<time_t>(ns / 1000000000),
                               static_cast<long>(ns % 1000000000)};
        (void)::syscall(SYS_futex, &report->spare_ready, FUTEX_WAIT, 0, &timeout, nullptr, 0);
    }
    previous.reset();
}

// One spare: its socket and report made here, the fork, and the answer with the server's ends.
// `previous`: the report of the spare forked last, kept mapped until the next fork.
void spawn_one(int control, const Zygote::Spawn& spawn, Zygote::Birth& birth,
               std::optional<SharedReport>& previous) {
    wait_for_previous(previous);
    UniqueFd server_end, worker_end;
    UniqueFd report_fd = SharedReport::make_memfd();
    // An invalid fd maps nothing: report.get() is null then.
    SharedReport report = SharedReport::from_memfd(report_fd.get(), true);
    Message answer;
    if (!socket_pair(server_end, worker_end) || !report.get()) {
        answer.pid = -(errno ? errno : ENOMEM);
        (void)protocol::send_struct(control, answer);
        return;
    }
    pid_t pid = os::fork_sibling(birth.namespaces);
    if (pid < 0 && birth.namespaces != 0 && errno != EAGAIN && errno != ENOMEM) {
        // A kernel or container that refuses one of them: the children make their own (and the
        // jail goes on without the refused ones, or not, as it is configured).
        spdlog::warn("zygote: cannot make a worker in its namespaces: {}; each spare makes its "
                     "own from now on",
                     std::strerror(errno));
        birth.namespaces = 0;
        pid = os::fork_sibling();
    }
    if (pid == 0) {
        ::prctl(PR_SET_NAME, "vn-spare"); // the zygote's name is the zygote's alone
        server_end.reset();
        spawn(birth, worker_end.get(), report.get(), report.worker_pid_slot());
        ::_exit(1);
    }
    answer.pid = pid > 0 ? pid : -errno;
    if (pid > 0) {
        const std::array<int, 2> fds{server_end.get(), report_fd.get()};
        (void)protocol::send_struct(control, answer, fds);
        previous = std::move(report);
    } else {
        (void)protocol::send_struct(control, answer);
    }
}

[[noreturn]] void run_zygote(int control, const Zygote::Spawn& spawn,
                             const Zygote::BecomeForker& become_forker, pid_t server) {
    ::prctl(PR_SET_NAME, "vn-zygote");
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != server)
        ::_exit(0);
    UniqueFd server_pidfd(static_cast<int>(::syscall(SYS_pidfd_open, server, 0)));
    Zygote::Birth birth;
    birth.namespaces = become_forker();
    if (server_pidfd)
        birth.server_pidfd = server_pidfd.get();
    else
        birth.namespaces = 0;
    // The server blocks these for its signalfd. The zygote's children are the server's, so it
    // gets no SIGCHLD; an operator's SIGUSR1 (systemctl kill) is the server's, not a reason to die.
    ::signal(SIGUSR1, SIG_IGN);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::optional<SharedReport> previous;
    for (;;) {
        char byte;
        const ssize_t n = ::recv(control, &byte, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            ::_exit(0); // the server closed its end: done
        spawn_one(control, spawn, birth, previous);
    }
}

} // namespace

std::unique_ptr<Zygote> Zygote::start(Spawn spawn, std::vector<int> keep_fds,
                                      BecomeForker become_forker) {
    UniqueFd server_end, zygote_end;
    if (!socket_pair(server_end, zygote_end)) {
        spdlog::warn("zygote: socketpair: {}; the server forks spare workers itself",
                     std::strerror(errno));
        return nullptr;
    }
    const pid_t server = ::getpid();
    spdlog::default_logger()->flush();
    const pid_t pid = ::fork();
    if (pid < 0) {
        spdlog::warn("zygote: fork: {}; the server forks spare workers itself",
                     std::strerror(errno));
        return nullptr;
    }
    if (pid == 0) {
        server_end.reset();
        keep_fds.push_back(zygote_end.get());
        // Whatever the server holds (a VMM's --socket-fd, a listening socket) stays there.
        if (!os::close_fds_from(STDERR_FILENO + 1, std::move(keep_fds)))
            ::_exit(1);
        run_zygote(zygote_end.get(), spawn, become_forker, server);
    }
    zygote_end.reset();
    spdlog::debug("zygote: pid {} forks the spare workers", pid);
    return std::unique_ptr<Zygote>(new Zygote(pid, std::move(server_end)));
}

Zygote::~Zygote() {
    m_control.reset();
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED) < 0 && errno == EINTR) {
    }
}

bool Zygote::request() {
    const char byte = 1;
    ssize_t n;
    while ((n = ::send(m_control.get(), &byte, 1, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    return n == 1;
}

Zygote::Answer Zygote::receive(int timeout_ms) {
    using Kind = Answer::Kind;
    pollfd pfd{m_control.get(), POLLIN, 0};
    int ready;
    while ((ready = ::poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    if (ready == 0)
        return {};
    Message message;
    std::array<std::byte, sizeof(Message) + 1> buffer{};
    auto received = protocol::recv_message(m_control.get(), buffer, MSG_DONTWAIT);
    if (received.status == protocol::RecvStatus::Error && errno == EAGAIN)
        return {};
    if (received.status != protocol::RecvStatus::Ok || received.size != sizeof(Message)) {
        spdlog::warn("zygote (pid {}) hung up or misbehaved; the server forks spare workers "
                     "itself from now on",
                     m_pid);
        return {Kind::Gone, std::nullopt};
    }
    std::memcpy(&message, buffer.data(), sizeof(message));
    if (message.pid <= 0) {
        spdlog::warn("spare worker: the zygote could not fork one: {}",
                     std::strerror(-message.pid));
        return {Kind::Failed, std::nullopt};
    }
    // Only a child of this server, with its socket and report, is a spare.
    siginfo_t probe{};
    if (received.fds.size() != 2 ||
        ::waitid(P_PID, static_cast<id_t>(message.pid), &probe, WEXITED | WNOHANG | WNOWAIT) != 0) {
        spdlog::error("zygote (pid {}) named pid {} with {} fds, which is no spare of the server",
                      m_pid, message.pid, received.fds.size());
        return {Kind::Gone, std::nullopt};
    }
    Spawned spare{message.pid, std::move(received.fds[0]),
                  SharedReport::from_memfd(received.fds[1].get(), false)};
    return {Kind::Spare, std::move(spare)};
}

} // namespace vn::server
