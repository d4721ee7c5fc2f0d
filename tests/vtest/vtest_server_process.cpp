#include "vtest_server_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace vn::vtest::test {

namespace {
std::atomic<int> g_counter{0};
}

VtestServerProcess::VtestServerProcess(bool single_context) {
    const std::string base =
        "/tmp/vn-vtest-test-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter++);
    m_socket = base + ".sock";
    m_log = base + ".log";
    m_pid = ::fork();
    if (m_pid == 0) {
        // A test that crashes must not leave servers behind.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        const int log = ::open(m_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ::dup2(log, STDERR_FILENO);
        ::dup2(log, STDOUT_FILENO);
        if (single_context) {
            ::execl(VN_TEST_VTEST_PATH, "venus-vtest", "--single-context", "--socket-path",
                    m_socket.c_str(), "--log-level=debug", nullptr);
        } else {
            ::execl(VN_TEST_VTEST_PATH, "venus-vtest", "--socket-path", m_socket.c_str(),
                    "--server", VN_TEST_SERVER_PATH, "--log-level=debug", nullptr);
        }
        ::_exit(127);
    }
}

VtestServerProcess::~VtestServerProcess() {
    if (m_pid > 0 && running()) {
        ::kill(m_pid, SIGTERM);
        if (wait_exit(10000) == -1 && running()) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
    }
    ::unlink(m_log.c_str());
    ::unlink(m_socket.c_str());
}

std::string VtestServerProcess::log() const {
    std::ifstream in(m_log);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool VtestServerProcess::wait_for_log(const std::string& text, int wait_ms) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (log().find(text) == std::string::npos) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

int VtestServerProcess::fd_count() const {
    const std::string dir = "/proc/" + std::to_string(m_pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (!d)
        return -1;
    int count = 0;
    while (const dirent* e = ::readdir(d)) {
        if (e->d_name[0] != '.')
            ++count;
    }
    ::closedir(d);
    return count;
}

bool VtestServerProcess::wait_for_fd_count(int count, int wait_ms) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (fd_count() != count) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

bool VtestServerProcess::running() {
    if (m_pid <= 0)
        return false;
    int status;
    const pid_t r = ::waitpid(m_pid, &status, WNOHANG);
    if (r == m_pid) {
        m_pid = -m_pid; // reaped; keep the number for nothing else
        return false;
    }
    return r == 0;
}

int VtestServerProcess::wait_exit(int wait_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
        int status;
        const pid_t r = ::waitpid(m_pid, &status, WNOHANG);
        if (r == m_pid) {
            m_pid = -m_pid;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (r < 0 || std::chrono::steady_clock::now() > deadline)
            return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

} // namespace vn::vtest::test
