// The jail's promises, checked from inside a jailed child: what /proc/self says, which fds and
// environment variables survive, rlimits, namespaces, and that a forbidden syscall kills.
#include "jailed_child.h"

#include <catch2/catch.hpp>
#include <dirent.h>
#include <dlfcn.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <array>
#include <csignal>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

using namespace vn::sandbox;
using namespace vn::sandbox::test;

namespace {

std::string status_field(const std::string& status, const std::string& name) {
    std::istringstream in(status);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + ":", 0) == 0) {
            std::string value = line.substr(name.size() + 1);
            value.erase(0, value.find_first_not_of(" \t"));
            return value;
        }
    }
    return "<missing>";
}

std::string slurp(const char* path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

JailConfig quiet_config() {
    JailConfig config;
    config.log = [](LogLevel, std::string_view) {
    };
    return config;
}

} // namespace

TEST_CASE("a jailed worker has no_new_privs, a seccomp filter and no capabilities", "[jail]") {
    const Launch launch = GENERATE(Launch::HandOver, Launch::Born);
    INFO(launch_name(launch));
    const auto result = run_jailed(
        quiet_config(),
        [](int out) {
            report(out, slurp("/proc/self/status"));
            return 0;
        },
        launch);
    INFO(result.stderr_text);
    REQUIRE(result.exited);
    REQUIRE(result.exit_code == 0);
    CHECK(status_field(result.report, "NoNewPrivs") == "1");
    CHECK(status_field(result.report, "Seccomp") == "2");
    CHECK(status_field(result.report, "CapEff") == "0000000000000000");
    CHECK(status_field(result.report, "CapPrm") == "0000000000000000");
    CHECK(status_field(result.report, "CapInh") == "0000000000000000");
    CHECK(status_field(result.report, "CapAmb") == "0000000000000000");
    // The bounding set can only be emptied with CAP_SETPCAP: in a user namespace, or as root.
    if (Jail::probe_namespaces().user || ::geteuid() == 0)
        CHECK(status_field(result.report, "CapBnd") == "0000000000000000");
}

TEST_CASE("only stdio and the kept fds survive the jail", "[jail][fds]") {
    // Inheritable fds of every kind a server holds: files, a listening-like socket, pipes.
    const int file = ::open("/dev/null", O_RDONLY);
    int sockets[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sockets) == 0);
    int pipes[2];
    REQUIRE(::pipe(pipes) == 0);
    const int high = ::fcntl(file, F_DUPFD, 200);
    REQUIRE(high >= 200);

    JailConfig config = quiet_config();
    config.keep_fds = {sockets[0]};
    const int kept = sockets[0];
    const auto result = run_jailed(config, [](int out) {
        DIR* dir = ::opendir("/proc/self/fd");
        if (!dir)
            return 2;
        std::string list;
        while (dirent* entry = ::readdir(dir)) {
            if (entry->d_name[0] == '.' || std::atoi(entry->d_name) == ::dirfd(dir))
                continue;
            list += entry->d_name;
            list += ' ';
        }
        ::closedir(dir);
        report(out, list);
        // stdin is /dev/null; stdout is the same file as stderr.
        struct stat in_st {
        }, null_st{}, out_st{}, err_st{};
        ::fstat(STDIN_FILENO, &in_st);
        ::stat("/dev/null", &null_st);
        ::fstat(STDOUT_FILENO, &out_st);
        ::fstat(STDERR_FILENO, &err_st);
        report(out,
               std::string("| stdin_null=") +
                   (in_st.st_rdev == null_st.st_rdev && S_ISCHR(in_st.st_mode) ? "1" : "0") +
                   " stdout_is_stderr=" +
                   (out_st.st_ino == err_st.st_ino && out_st.st_dev == err_st.st_dev ? "1" : "0"));
        return 0;
    });
    ::close(file);
    ::close(high);
    ::close(sockets[0]);
    ::close(sockets[1]);
    ::close(pipes[0]);
    ::close(pipes[1]);
    INFO(result.stderr_text);
    REQUIRE(result.exited);
    REQUIRE(result.exit_code == 0);
    const std::string fds = result.report.substr(0, result.report.find('|'));
    std::set<int> seen;
    std::istringstream in(fds);
    for (int fd; in >> fd;)
        seen.insert(fd);
    // 0, 1, 2, the kept socket, and the test's report pipe; nothing else.
    CHECK(seen.size() == 5);
    CHECK(seen.count(0) == 1);
    CHECK(seen.count(1) == 1);
    CHECK(seen.count(2) == 1);
    CHECK(seen.count(kept) == 1);
    CHECK(seen.count(high) == 0);
    CHECK(result.report.find("stdin_null=1") != std::string::npos);
    CHECK(result.report.find("stdout_is_stderr=1") != std::string::npos);
}

TEST_CASE("the environment keeps only what drivers need", "[jail][env]") {
    ::setenv("MESA_SHADER_CACHE_DISABLE", "true", 1);
    ::setenv("VK_DRIVER_FILES", "/x/icd.json", 1);
    ::setenv("VN_TEST_SECRET", "hunter2", 1);
    ::setenv("LD_PRELOAD", "/tmp/evil.so.not-loaded", 1);
    // Born in its namespaces, the worker's forker filtered the environment it inherited.
    const Launch launch = GENERATE(Launch::HandOver, Launch::Born);
    INFO(launch_name(launch));
    const auto result = run_jailed(
        quiet_config(),
        [](int out) {
            for (char** e = environ; *e; ++e) {
                report(out, *e);
                report(out, "\n");
            }
            return 0;
        },
        launch);
    ::unsetenv("VN_TEST_SECRET");
    ::unsetenv("LD_PRELOAD");
    ::unsetenv("MESA_SHADER_CACHE_DISABLE");
    ::unsetenv("VK_DRIVER_FILES");
    REQUIRE(result.exit_code == 0);
    CHECK(result.report.find("MESA_SHADER_CACHE_DISABLE=true\n") != std::string::npos);
    CHECK(result.report.find("VK_DRIVER_FILES=/x/icd.json\n") != std::string::npos);
    CHECK(result.report.find("VN_TEST_SECRET") == std::string::npos);
    CHECK(result.report.find("LD_PRELOAD") == std::string::npos);
    CHECK(result.report.find("PATH=") == std::string::npos);
}

TEST_CASE("a forbidden syscall kills the worker with SIGSYS", "[jail][seccomp]") {
    struct Case {
        const char* name;
        int (*call)();
    };
    const Case cases[] = {
        {"ptrace",
         [] {
             return static_cast<int>(::syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0));
         }},
        {"kill another process",
         [] {
             return ::kill(1, 0);
         }},
        {"execve",
         [] {
             char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
             return ::execve("/bin/true", argv, environ);
         }},
        {"fork (clone without CLONE_THREAD)",
         [] {
             return static_cast<int>(::fork());
         }},
        {"unshare",
         [] {
             return ::unshare(CLONE_NEWUSER);
         }},
        {"ioctl(TIOCSTI)",
         [] {
             return ::ioctl(0, TIOCSTI, "x");
         }},
    };
    for (const auto& c : cases) {
        SECTION(c.name) {
            const auto call = c.call;
            const auto result = run_jailed(quiet_config(), [call](int) {
                call();
                return 0; // reached only if the call was let through
            });
            INFO(result.stderr_text);
            CHECK_FALSE(result.exited);
            CHECK(result.signal == SIGSYS);
        }
    }
}

TEST_CASE("threads work and refused calls fail softly where the policy says so",
          "[jail][seccomp]") {
    const auto result = run_jailed(quiet_config(), [](int out) {
        int value = 0;
        std::thread([&value] { value = 42; }).join();
        // socket() is refused with EACCES (glibc's nscd and syslog probes cope), never killed.
        const int inet = ::socket(AF_INET, SOCK_STREAM, 0);
        const int inet_errno = errno;
        report(out, "thread=" + std::to_string(value) + " socket=" + std::to_string(inet) +
                        " errno=" + std::to_string(inet_errno));
        return 0;
    });
    INFO(result.stderr_text);
    REQUIRE(result.exited);
    CHECK(result.report == "thread=42 socket=-1 errno=" + std::to_string(EACCES));
}

TEST_CASE("log mode names the blocked syscall and fails it instead of killing", "[jail][seccomp]") {
    JailConfig config = quiet_config();
    config.seccomp = SeccompMode::Log;
    const auto result = run_jailed(config, [](int out) {
        const long rc = ::syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
        report(out, "rc=" + std::to_string(rc) + " errno=" + std::to_string(errno));
        return 0;
    });
    REQUIRE(result.exited);
    CHECK(result.report == "rc=-1 errno=" + std::to_string(ENOSYS));
    CHECK(result.stderr_text.find("seccomp blocked syscall ptrace (" + std::to_string(SYS_ptrace) +
                                  ")") != std::string::npos);
}

TEST_CASE("rlimits: RLIMIT_NOFILE and RLIMIT_AS fail cleanly, no core dumps", "[jail][rlimit]") {
    JailConfig config = quiet_config();
    config.rlimit_nofile = 16;
    config.rlimit_as = 1ull << 30;
    const auto result = run_jailed(config, [](int out) {
        int opened = 0;
        int last_errno = 0;
        for (int i = 0; i < 64; ++i) {
            if (::open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) {
                last_errno = errno;
                break;
            }
            ++opened;
        }
        void* big =
            ::mmap(nullptr, 2ull << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        const int mmap_errno = errno;
        rlimit core{};
        ::getrlimit(RLIMIT_CORE, &core);
        report(out, "opened=" + std::to_string(opened) + " errno=" + std::to_string(last_errno) +
                        " mmap=" + (big == MAP_FAILED ? "failed" : "ok") + " mmap_errno=" +
                        std::to_string(mmap_errno) + " core=" + std::to_string(core.rlim_max));
        return 0;
    });
    INFO(result.stderr_text);
    REQUIRE(result.exited);
    // 0-2, the report pipe, then 12 more until fd 15.
    CHECK(result.report == "opened=12 errno=" + std::to_string(EMFILE) +
                               " mmap=failed mmap_errno=" + std::to_string(ENOMEM) + " core=0");
}

TEST_CASE("namespaces: own user, PID, mount, IPC and network namespaces", "[jail][namespaces]") {
    const auto support = Jail::probe_namespaces();
    if (!support.user || !support.others || !support.pid) {
        WARN("namespaces unavailable here (" << support.detail
                                             << "); the jail falls back to running without them");
        const auto result = run_jailed(quiet_config(), [](int) { return 0; });
        CHECK(result.exit_code == 0); // the fallback still runs the worker
        return;
    }
    auto ns_of = [](const char* which) {
        char link[64] = {};
        const std::string path = std::string("/proc/self/ns/") + which;
        const ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
        return n > 0 ? std::string(link) : std::string("?");
    };
    const Launch launch = GENERATE(Launch::HandOver, Launch::Born);
    INFO(launch_name(launch));
    const auto result = run_jailed(
        quiet_config(),
        [&ns_of](int out) {
            std::string text = "pid=" + std::to_string(::getpid());
            for (const char* which : {"user", "mnt", "pid", "ipc", "net"})
                text += std::string(" ") + which + "=" + ns_of(which);
            // Its own uid and gid, mapped to themselves.
            text += " uid=" + std::to_string(::geteuid()) + " gid=" + std::to_string(::getegid());
            // A private /proc shows this namespace's processes only: ourselves.
            int processes = 0;
            if (DIR* dir = ::opendir("/proc")) {
                while (dirent* entry = ::readdir(dir))
                    processes += std::isdigit(static_cast<unsigned char>(entry->d_name[0])) ? 1 : 0;
                ::closedir(dir);
            }
            text += " processes=" + std::to_string(processes);
            report(out, text);
            return 0;
        },
        launch);
    INFO(result.report << "\n" << result.stderr_text);
    REQUIRE(result.exit_code == 0);
    CHECK(result.report.rfind("pid=1 ", 0) == 0);
    for (const char* which : {"user", "mnt", "ipc", "net"})
        CHECK(result.report.find(std::string(which) + "=" + ns_of(which)) == std::string::npos);
    CHECK(result.report.find(" uid=" + std::to_string(::geteuid()) +
                             " gid=" + std::to_string(::getegid()) + " ") != std::string::npos);
    CHECK(result.report.find("processes=1") != std::string::npos);
}

TEST_CASE("workers of one jail share one network namespace, never the host's",
          "[jail][namespaces]") {
    const auto support = Jail::probe_namespaces();
    if (!support.user || !support.others) {
        WARN("namespaces unavailable here (" << support.detail << ")");
        return;
    }
    const Launch launch = GENERATE(Launch::HandOver, Launch::Born);
    INFO(launch_name(launch));
    const auto net_of_child = [launch](Jail& jail) {
        const auto result = run_in_jail(
            jail,
            [](int out) {
                char link[64] = {};
                const ssize_t n = ::readlink("/proc/self/ns/net", link, sizeof(link) - 1);
                report(out, n > 0 ? std::string(link) : std::string("?"));
                return 0;
            },
            launch);
        INFO(result.stderr_text);
        REQUIRE(result.exit_code == 0);
        return result.report;
    };
    char host[64] = {};
    REQUIRE(::readlink("/proc/self/ns/net", host, sizeof(host) - 1) > 0);
    for (const bool shared : {true, false}) {
        INFO("shared_network_namespace = " << shared);
        JailConfig config = quiet_config();
        config.shared_network_namespace = shared;
        Jail jail(config);
        const std::string first = net_of_child(jail), second = net_of_child(jail);
        CHECK(first.rfind("net:[", 0) == 0);
        CHECK(first != host);
        CHECK(second != host);
        CHECK((first == second) == shared);
    }
}

TEST_CASE("the worker's exit status and death signal reach its launcher", "[jail]") {
    // Handed over, the worker is the launcher's own child; behind a reaper, the reaper passes them
    // on.
    const Launch launch = GENERATE(Launch::HandOver, Launch::Reaper, Launch::Born);
    INFO(launch_name(launch));
    auto result = run_jailed(
        quiet_config(), [](int) { return 7; }, launch);
    CHECK(result.exited);
    CHECK(result.exit_code == 7);
    // A real fault: as PID 1 of its namespace the worker ignores raise()d signals, but the kernel's
    // own fault signals still kill it.
    result = run_jailed(
        quiet_config(),
        [](int) {
            ::signal(SIGSEGV, SIG_DFL); // not Catch2's handler, inherited through fork
            volatile int* volatile nowhere = nullptr;
            *nowhere = 1;
            return 0;
        },
        launch);
    CHECK_FALSE(result.exited);
    CHECK(result.signal == SIGSEGV);
}

TEST_CASE("a handed-over worker is PID 1, the launcher's child, with glibc's thread state right",
          "[jail][handover]") {
    if (!Jail::probe_namespaces().pid) {
        WARN("no PID namespaces here");
        return;
    }
    pid_t worker = 0;
    const auto result = run_jailed(
        quiet_config(),
        [](int out) {
            std::string r = "pid=" + std::to_string(::getpid());
            // glibc's record of this thread's tid (mutex and rwlock owner ids), at the offset it
            // exports for debuggers: the new process's, not the launcher's.
            const auto* field =
                static_cast<const std::uint32_t*>(::dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid"));
            if (field)
                r += " glibc_tid=" +
                     std::to_string(*reinterpret_cast<const pid_t*>(
                         reinterpret_cast<const char*>(::pthread_self()) + field[2]));
            // Threads still work, and the process's rseq area is registered again: a second
            // registration of the same area is busy.
            std::thread([&r] { r += " thread=ok"; }).join();
            auto* area = reinterpret_cast<struct rseq*>(reinterpret_cast<char*>(::pthread_self()) +
                                                        __rseq_offset);
            const long again = __rseq_size ? ::syscall(SYS_rseq, area, 32, 0, RSEQ_SIG) : 0;
            r += " rseq=" + std::to_string(again == 0 ? 0 : errno);
            report(out, r);
            return 0;
        },
        Launch::HandOver, &worker);
    INFO(result.stderr_text);
    REQUIRE(result.exit_code == 0);
    CHECK(worker > 0); // the kernel wrote the worker's pid where the launcher reads it
    INFO(result.report);
    CHECK(result.report.find("pid=1 glibc_tid=1 thread=ok") == 0);
#if defined(__x86_64__) // pthread_self() is the thread pointer there
    if (__rseq_size)
        CHECK(result.report.find("rseq=" + std::to_string(EBUSY)) != std::string::npos);
#endif
}

TEST_CASE("without seccomp the jail still drops privileges", "[jail]") {
    JailConfig config = quiet_config();
    config.seccomp = SeccompMode::Off;
    const auto result = run_jailed(config, [](int out) {
        report(out, slurp("/proc/self/status"));
        return 0;
    });
    REQUIRE(result.exit_code == 0);
    CHECK(status_field(result.report, "NoNewPrivs") == "1");
    CHECK(status_field(result.report, "Seccomp") == "0");
    CHECK(status_field(result.report, "CapEff") == "0000000000000000");
}

// A root server whose launcher dropped CAP_SETFCAP may make user namespaces but not map uid 0 in
// them. The forker's user namespace then stays without an id map, and the workers born in it
// still get their mount and PID namespaces and every other part of the jail.
TEST_CASE("a root forker without CAP_SETFCAP still makes its workers' namespaces",
          "[jail][namespaces]") {
    if (::geteuid() != 0 || !Jail::probe_namespaces().pid) {
        WARN("needs root and PID namespaces");
        return;
    }
    // In a child of our own: the capability goes for good there.
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> sets{};
        if (::syscall(SYS_capget, &header, sets.data()) != 0)
            ::_exit(10);
        const unsigned bit = 1u << (CAP_SETFCAP % 32);
        auto& set = sets[CAP_SETFCAP / 32];
        set.effective &= ~bit;
        set.permitted &= ~bit;
        set.inheritable &= ~bit;
        header = {_LINUX_CAPABILITY_VERSION_3, 0};
        if (::syscall(SYS_capset, &header, sets.data()) != 0)
            ::_exit(11);
        Jail jail(quiet_config());
        const auto result = run_in_jail(
            jail,
            [](int out) {
                report(out,
                       "pid=" + std::to_string(::getpid()) + "\n" + slurp("/proc/self/status"));
                return 0;
            },
            Launch::Born);
        if (!result.exited || result.exit_code != 0)
            ::_exit(12);
        if (result.report.rfind("pid=1\n", 0) != 0)
            ::_exit(13); // not PID 1 of a PID namespace of its own
        if (status_field(result.report, "CapEff") != "0000000000000000" ||
            status_field(result.report, "CapBnd") != "0000000000000000" ||
            status_field(result.report, "Seccomp") != "2")
            ::_exit(14);
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    // 10-11: the test's own capability drop; 12: the worker did not run; 13: no PID namespace;
    // 14: capabilities or the filter.
    CHECK(WEXITSTATUS(status) == 0);
}
