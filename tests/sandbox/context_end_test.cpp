// Every end of a context is logged once, with its cause, by the real server with its sandbox on:
// a worker killed by each class of signal, a seccomp violation, a fatal command stream, an orderly
// destroy. The VMM's DESTROY_CONTEXT races each death (sent right after it), as it does when a
// guest's context dies and the VMM tears it down at once: the log must still name the real cause.
#include "venus_proxy.h"
#include "vn/sandbox/jail.h"
#include "vn/test/server_process.h"

#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using vn::test::children;
using vn::test::log_field;
using vn::test::ServerProcess;

namespace {

struct Server {
    ServerProcess process;
    vn_proxy_server* proxy = nullptr;
    explicit Server(const std::vector<std::string>& args) : process(VN_TEST_SERVER_PATH, args) {
        REQUIRE(vn_proxy_server_connect(process.take_socket(), VN_PROXY_LAYOUT_V1, 0, &proxy) ==
                VN_PROXY_OK);
    }
    ~Server() { vn_proxy_server_destroy(proxy); }
};

vn_proxy_context* create_context(vn_proxy_server* server, std::uint32_t id) {
    vn_proxy_context* ctx = nullptr;
    REQUIRE(vn_proxy_context_create(server, id, "end-test", VN_PROXY_CAPSET_VENUS, true, &ctx) ==
            VN_PROXY_OK);
    std::uint32_t seqno = 0;
    REQUIRE(vn_proxy_context_submit_fence(ctx, 0, &seqno) == VN_PROXY_OK);
    REQUIRE(vn_proxy_context_wait_fence(ctx, 0, seqno, 5000) == VN_PROXY_OK);
    return ctx;
}

std::string process_name(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

// The server's child for context `id` (the jail's reaper, or the worker without a PID
// namespace) and the worker itself.
std::pair<pid_t, pid_t> find_worker(pid_t server, std::uint32_t id) {
    static const bool pid_namespaces = vn::sandbox::Jail::probe_namespaces().pid;
    const std::string name = "vn-ctx-" + std::to_string(id);
    for (int attempt = 0; attempt < 1000; ++attempt) {
        for (const pid_t child : children(server)) {
            if (process_name(child) == name &&
                (!pid_namespaces || vn::test::in_own_pid_namespace(child)))
                return {child, child};
            const auto grand = children(child);
            if (grand.size() == 1 && process_name(grand[0]) == name)
                return {child, grand[0]};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return {-1, -1};
}

// Waits for the one end line of context `id`, then checks that no second one follows.
std::string end_line(ServerProcess& server, std::uint32_t id) {
    const std::string needle = "context " + std::to_string(id) + " end:";
    const std::string line = server.wait_for_line(needle, 10000);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    INFO(server.log());
    CHECK(server.count(needle) == 1);
    return line;
}

struct SignalCase {
    int signal;
    bool to_worker; // else to the server's child (the worker, or the jail's reaper)
    const char* cause;
    const char* signal_name;
};

} // namespace

TEST_CASE("a worker killed by a signal, raced by DESTROY_CONTEXT, logs its cause once",
          "[server][context-end]") {
    // Crashes (the worker's handler records them), the uncatchable SIGKILL, a plain termination
    // signal and an rlimit signal. The termination and rlimit signals go to the process the
    // server forked, as an operator's kill would: the worker itself where the jail hands over
    // (its handler records them too; as PID 1 of its PID namespace it would ignore them without
    // one), else the jail's reaper.
    const SignalCase c = GENERATE(
        SignalCase{SIGSEGV, true, "signal", "SEGV"}, SignalCase{SIGBUS, true, "signal", "BUS"},
        SignalCase{SIGILL, true, "signal", "ILL"}, SignalCase{SIGFPE, true, "signal", "FPE"},
        SignalCase{SIGABRT, true, "signal", "ABRT"}, SignalCase{SIGKILL, true, "signal", "KILL"},
        SignalCase{SIGTERM, false, "signal", "TERM"}, SignalCase{SIGXCPU, false, "rlimit", "XCPU"});
    INFO("signal " << c.signal_name);
    Server server({});
    vn_proxy_context* ctx = create_context(server.proxy, 3);
    const auto [child, worker] = find_worker(server.process.pid, 3);
    REQUIRE(worker > 0);
    REQUIRE(::kill(c.to_worker ? worker : child, c.signal) == 0);
    // The VMM tears the context down at once: socket closed, DESTROY_CONTEXT sent.
    vn_proxy_context_destroy(ctx);

    const std::string line = end_line(server.process, 3);
    INFO(line);
    CHECK(log_field(line, "cause") == c.cause);
    CHECK(log_field(line, "signal") == c.signal_name);
    CHECK(log_field(line, "pid") == std::to_string(child));
    // The counters of what it did before it died: INIT and one fence, no commands.
    CHECK(log_field(line, "cmds") == "0");
    CHECK(server.process.alive());
}

TEST_CASE("a seccomp violation, raced by DESTROY_CONTEXT, logs the syscall",
          "[server][context-end][seccomp]") {
    // Test-only server option: the worker of context 7 calls ptrace() 200 ms after it started.
    Server server({"--test-worker-seccomp-violation=7"});
    vn_proxy_context* ctx = create_context(server.proxy, 7);
    const auto [child, worker] = find_worker(server.process.pid, 7);
    REQUIRE(worker > 0);
    // Destroyed the moment the worker is gone, before the server had reason to look.
    for (int i = 0; i < 500 && ::kill(worker, 0) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    vn_proxy_context_destroy(ctx);

    const std::string line = end_line(server.process, 7);
    INFO(line);
    CHECK(log_field(line, "cause") == "seccomp-violation");
    CHECK(log_field(line, "syscall_name") == "ptrace");
    CHECK(log_field(line, "syscall") == std::to_string(SYS_ptrace));
    CHECK(line.find("killed by signal SYS") != std::string::npos);
}

TEST_CASE("a worker's own memory fault, raced by DESTROY_CONTEXT, kills it by SIGSEGV",
          "[server][context-end]") {
    // Test-only server option: the worker of context 9 writes through a null pointer 200 ms
    // after it started. Unlike a SIGSEGV sent with kill(), the fault ends even PID 1 of the
    // worker's PID namespace with the signal itself.
    Server server({"--test-worker-fault=9"});
    vn_proxy_context* ctx = create_context(server.proxy, 9);
    const auto [child, worker] = find_worker(server.process.pid, 9);
    REQUIRE(worker > 0);
    for (int i = 0; i < 500 && ::kill(worker, 0) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    vn_proxy_context_destroy(ctx);

    const std::string line = end_line(server.process, 9);
    INFO(line);
    CHECK(log_field(line, "cause") == "signal");
    CHECK(log_field(line, "signal") == "SEGV");
    CHECK(log_field(line, "wait") == "killed by signal SEGV");
}

TEST_CASE("a fatal command stream, raced by DESTROY_CONTEXT, logs the reason",
          "[server][context-end]") {
    Server server({});
    vn_proxy_context* ctx = create_context(server.proxy, 4);
    // No Venus command has type 0xffffffff.
    const std::vector<std::uint8_t> bad(16, 0xff);
    (void)vn_proxy_context_submit_cmd(ctx, bad.data(), bad.size());
    vn_proxy_context_destroy(ctx);

    const std::string line = end_line(server.process, 4);
    INFO(line);
    CHECK(log_field(line, "cause") == "fatal");
    CHECK(log_field(line, "reason").find("SUBMIT_CMD") != std::string::npos);
    CHECK(log_field(line, "cmds") == "1");
    CHECK(log_field(line, "bytes") == "16");
    CHECK(log_field(line, "submits") == "1");
}

TEST_CASE("an orderly destroy and a VMM that just closes are logged as such",
          "[server][context-end]") {
    Server server({});
    vn_proxy_context* ctx = create_context(server.proxy, 5);
    vn_proxy_context_destroy(ctx);
    const std::string line = end_line(server.process, 5);
    INFO(line);
    CHECK(log_field(line, "cause") == "destroy");
    CHECK(line.find("exited with status 0") != std::string::npos);
    // The worker's CPU time, its exit included: a positive number of milliseconds.
    const std::string cpu = log_field(line, "cpu_ms");
    REQUIRE_FALSE(cpu.empty());
    CHECK(std::stod(cpu) > 0.0);

    // SIGUSR1 lists live contexts with their counters.
    vn_proxy_context* live = create_context(server.proxy, 6);
    // `systemctl kill -s USR1` signals every process of the service: workers ignore it.
    const auto [child, worker] = find_worker(server.process.pid, 6);
    REQUIRE(worker > 0);
    REQUIRE(::kill(child, SIGUSR1) == 0);
    REQUIRE(::kill(worker, SIGUSR1) == 0);
    REQUIRE(::kill(server.process.pid, SIGUSR1) == 0);
    const std::string stats = server.process.wait_for_line("context 6 stats:");
    INFO(stats);
    CHECK(log_field(stats, "phase") == "serving");
    CHECK(log_field(stats, "cmds") == "0");
    CHECK(log_field(stats, "device_mem") == "0");
    std::uint32_t seqno = 0;
    CHECK(vn_proxy_context_submit_fence(live, 0, &seqno) == VN_PROXY_OK);
    CHECK(vn_proxy_context_wait_fence(live, 0, seqno, 5000) == VN_PROXY_OK);
    vn_proxy_context_destroy(live);
    CHECK(log_field(end_line(server.process, 6), "cause") == "destroy");
}
