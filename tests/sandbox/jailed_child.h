#pragma once
// Runs a function in a forked child inside the worker jail and brings back what it reported and
// how it ended. The child only writes to `report` (a pipe the jail is told to keep) and stderr; the
// Catch2 assertions all run in the parent.
#include "vn/os/process.h"
#include "vn/sandbox/jail.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

namespace vn::sandbox::test {

struct ChildResult {
    bool exited = false;
    int exit_code = -1;
    int signal = 0;
    std::string report;
    std::string stderr_text;
};

inline void report(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n <= 0)
            return;
        done += static_cast<std::size_t>(n);
    }
}

inline std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return out;
        out.append(buf, static_cast<std::size_t>(n));
    }
}

// How the jail moves the worker into its PID namespace (jail.h): handed over to a process that is
// this one's child too (as the server's own fork has it), behind a reaper, or born there: made in
// its namespaces by a forker (as the server's zygote has it; Jail::become_forker), our child too.
enum class Launch { HandOver, Reaper, Born };

inline const char* launch_name(Launch launch) {
    switch (launch) {
    case Launch::HandOver:
        return "hand-over";
    case Launch::Reaper:
        return "reaper";
    case Launch::Born:
        return "born in its namespaces";
    }
    return "?";
}

// body(report_fd) runs after setup() and narrow() of `jail`; its return value is the exit status.
// worker_pid: where the worker ran as a process of its own (the hand-over), its pid; else 0.
inline ChildResult run_in_jail(Jail& jail, const std::function<int(int)>& body,
                               Launch launch = Launch::HandOver, pid_t* worker_pid = nullptr) {
    int report_pipe[2];
    int err_pipe[2];
    if (::pipe2(report_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
        return {};
    void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return {};
    auto* slot = static_cast<pid_t*>(page);
    const pid_t pid = ::fork();
    std::uint64_t born_in = 0;
    if (pid == 0 && launch == Launch::Born) {
        // The forker: it reports its child's pid in the slot, as a hand-over does.
        born_in = jail.become_forker();
        pid_t worker = os::fork_sibling(born_in);
        if (worker < 0 && born_in != 0) {
            // As the server's zygote does where the kernel refuses them: the child makes its own.
            born_in = 0;
            worker = os::fork_sibling();
        }
        if (worker != 0) {
            *slot = worker;
            ::_exit(worker > 0 ? 0 : 121);
        }
    }
    if (pid == 0) {
        ::dup2(err_pipe[1], STDERR_FILENO);
        // The pipe2 fds are O_CLOEXEC but still open here: the jail must close the read ends and
        // err_pipe[1] (stderr is its copy) on its own.
        if (!jail.setup({&report_pipe[1], 1}, launch == Launch::HandOver ? slot : nullptr,
                        born_in) ||
            !jail.narrow())
            ::_exit(120);
        ::munmap(page, 4096);
        ::_exit(body(report_pipe[1]));
    }
    ::close(report_pipe[1]);
    ::close(err_pipe[1]);
    ChildResult result;
    result.report = read_all(report_pipe[0]);
    result.stderr_text = read_all(err_pipe[0]);
    ::close(report_pipe[0]);
    ::close(err_pipe[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // After a hand-over the forked child exits 0 at once and the worker, our child as well, is the
    // one whose end counts.
    const pid_t worker = *slot;
    ::munmap(page, 4096);
    if (worker_pid)
        *worker_pid = worker;
    if (worker > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        while (::waitpid(worker, &status, 0) < 0 && errno == EINTR) {
        }
    }
    result.exited = WIFEXITED(status);
    result.exit_code = result.exited ? WEXITSTATUS(status) : -1;
    result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return result;
}

// The same in a jail of its own.
inline ChildResult run_jailed(JailConfig config, const std::function<int(int)>& body,
                              Launch launch = Launch::HandOver, pid_t* worker_pid = nullptr) {
    Jail jail(std::move(config));
    return run_in_jail(jail, body, launch, worker_pid);
}

} // namespace vn::sandbox::test
