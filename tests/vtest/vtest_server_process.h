#pragma once
// venus-vtest as a child process on a private socket, its log captured in a file.
#include <sys/types.h>

#include <string>

namespace vn::vtest::test {

class VtestServerProcess {
  public:
    // extra: more arguments (e.g. "--single-context"); without it the server runs
    // VN_TEST_SERVER_PATH.
    explicit VtestServerProcess(bool single_context = false);
    ~VtestServerProcess();
    VtestServerProcess(const VtestServerProcess&) = delete;
    VtestServerProcess& operator=(const VtestServerProcess&) = delete;

    const std::string& socket_path() const { return m_socket; }
    pid_t pid() const { return m_pid; }
    std::string log() const;
    // Waits until the log contains text.
    bool wait_for_log(const std::string& text, int wait_ms = 10000) const;
    // Open fds of the server process.
    int fd_count() const;
    // Waits until the server holds exactly count fds.
    bool wait_for_fd_count(int count, int wait_ms = 10000) const;
    // Waits for the process to exit on its own; its exit status, or -1.
    int wait_exit(int wait_ms);
    bool running();

  private:
    std::string m_socket;
    std::string m_log;
    pid_t m_pid = -1;
};

} // namespace vn::vtest::test
