#pragma once
// A real venus-render-server, started on a socketpair with extra options, whose log (stderr) the
// test reads: for the tests that check what the server says about its contexts.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vn::test {

class ServerProcess {
  public:
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;
    // `server_path`: the binary; the VMM's end of the connection is socket() until taken.
    ServerProcess(const std::string& server_path, const std::vector<std::string>& extra_args) {
        int sv[2];
        int err[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::dup2(err[1], STDERR_FILENO);
            ::fcntl(sv[1], F_SETFD, 0);
            std::vector<std::string> args = {server_path, "--socket-fd", std::to_string(sv[1]),
                                             "--log-level=debug"};
            args.insert(args.end(), extra_args.begin(), extra_args.end());
            std::vector<char*> argv;
            for (auto& a : args)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(sv[1]);
        ::close(err[1]);
        m_socket = sv[0];
        m_stderr = err[0];
        ::fcntl(m_stderr, F_SETFL, O_NONBLOCK);
    }
    ~ServerProcess() {
        if (m_socket >= 0)
            ::close(m_socket);
        if (pid > 0) {
            ::kill(pid, SIGTERM);
            int status;
            ::waitpid(pid, &status, 0);
        }
        if (m_stderr >= 0)
            ::close(m_stderr);
    }
    // The VMM's end of the server connection; the caller owns it from here.
    int take_socket() { return std::exchange(m_socket, -1); }
    bool alive() const { return ::kill(pid, 0) == 0; }

    // Everything logged so far (kept: later calls return the whole log).
    const std::string& log() {
        char buf[4096];
        for (ssize_t n; (n = ::read(m_stderr, buf, sizeof(buf))) > 0;)
            m_log.append(buf, static_cast<std::size_t>(n));
        return m_log;
    }
    // The first log line, from `from` on, that contains `needle`; empty after timeout.
    std::string wait_for_line(const std::string& needle, int timeout_ms = 5000,
                              std::size_t from = 0) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        for (;;) {
            const std::string& text = log();
            const std::size_t at = text.find(needle, from);
            if (at != std::string::npos) {
                const std::size_t start = text.rfind('\n', at);
                const std::size_t stop = text.find('\n', at);
                const std::size_t begin = start == std::string::npos ? 0 : start + 1;
                if (stop != std::string::npos)
                    return text.substr(begin, stop - begin);
            }
            if (std::chrono::steady_clock::now() >= end)
                return {};
            pollfd p{m_stderr, POLLIN, 0};
            ::poll(&p, 1, 10);
        }
    }
    // How many times `needle` occurs in the log so far.
    std::size_t count(const std::string& needle) {
        const std::string& text = log();
        std::size_t n = 0;
        for (std::size_t at = text.find(needle); at != std::string::npos;
             at = text.find(needle, at + 1))
            ++n;
        return n;
    }

    pid_t pid = -1;

  private:
    int m_socket = -1;
    int m_stderr = -1;
    std::string m_log;
};

// The direct children of a process (the server's: workers, their jails' reapers, spares).
inline std::vector<pid_t> children(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    std::vector<pid_t> out;
    for (pid_t child; in >> child;)
        out.push_back(child);
    return out;
}

// Whether a process runs in a PID namespace below its parent's (two or more NSpid levels). A
// worker's jail moves it into one by handing over to a new process (vn::sandbox::Jail); the
// server's child that hands over carries the worker's name for a moment, but never this.
inline bool in_own_pid_namespace(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("NSpid:", 0) == 0)
            return line.find_first_of(" \t", line.find_first_not_of(" \t", 6)) != std::string::npos;
    return false;
}

// The value of `key=` in a key=value log line, or empty.
inline std::string log_field(const std::string& line, const std::string& key) {
    const std::string needle = " " + key + "=";
    const std::size_t at = line.find(needle);
    if (at == std::string::npos)
        return {};
    const std::size_t begin = at + needle.size();
    if (begin < line.size() && line[begin] == '"') {
        const std::size_t close = line.find('"', begin + 1);
        return line.substr(begin + 1,
                           close == std::string::npos ? std::string::npos : close - begin - 1);
    }
    return line.substr(begin, line.find(' ', begin) - begin);
}

} // namespace vn::test
