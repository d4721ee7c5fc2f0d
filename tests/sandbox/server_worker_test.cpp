// The jail as the real server applies it: a worker of venus-render-server shows NoNewPrivs 1,
// Seccomp 2 and CapEff 0 and holds only its expected fds; a worker that makes a forbidden syscall
// dies, its context is reported lost, and the server and the other contexts keep going.
#include "venus_proxy.h"
#include "vn/sandbox/jail.h"
#include "vn/test/server_process.h"

#include <catch2/catch.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using vn::test::children;

namespace {

// The shared server process (tests/support), connected through the proxy as a VMM would.
struct ServerProcess {
    vn::test::ServerProcess process;
    pid_t pid;
    vn_proxy_server* proxy = nullptr;

    explicit ServerProcess(const std::vector<std::string>& extra_args)
        : process(VN_TEST_SERVER_PATH, extra_args), pid(process.pid) {
        REQUIRE(vn_proxy_server_connect(process.take_socket(), VN_PROXY_LAYOUT_V1, 0, &proxy) ==
                VN_PROXY_OK);
    }
    ~ServerProcess() {
        if (proxy)
            vn_proxy_server_destroy(proxy); // before `process` stops the server
    }
    bool alive() const { return process.alive(); }
    std::string log() { return process.log(); }
};

struct ContextDeleter {
    void operator()(vn_proxy_context* c) const { vn_proxy_context_destroy(c); }
};
using Context = std::unique_ptr<vn_proxy_context, ContextDeleter>;

Context create_context(vn_proxy_server* server, std::uint32_t id) {
    vn_proxy_context* ctx = nullptr;
    const int rc =
        vn_proxy_context_create(server, id, "sandbox-test", VN_PROXY_CAPSET_VENUS, true, &ctx);
    INFO("vn_proxy_context_create: " << vn_proxy_result_string(rc));
    REQUIRE(rc == VN_PROXY_OK);
    return Context(ctx);
}

int fence_round_trip(vn_proxy_context* ctx) {
    std::uint32_t seqno = 0;
    const int rc = vn_proxy_context_submit_fence(ctx, 0, &seqno);
    return rc != VN_PROXY_OK ? rc : vn_proxy_context_wait_fence(ctx, 0, seqno, 5000);
}

std::string status_field(pid_t pid, const std::string& name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
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

std::string process_name(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

struct Jailed {
    pid_t reaper = -1; // the server's child: the jail's reaper (or the process itself, see below)
    pid_t process = -1;
};

// The server's process named `name` (vn-ctx-N for a context's worker, vn-spare for the spare
// worker). Where the jail hands over (jail.h) or the kernel gives no PID namespace, that is a child
// of the server; behind a reaper, the server's child is the reaper and the process its only child
// (PID 1 of its own PID namespace). Looked up by name because the server has other children: the
// spares forked ahead of time.
// A process the server forked that is still handing over has the name too, briefly: only one in a
// PID namespace of its own (two NSpid levels) counts where the kernel gives those.
Jailed find_jailed(pid_t server, const std::string& name, pid_t other_than = -1) {
    static const bool pid_namespaces = vn::sandbox::Jail::probe_namespaces().pid;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        for (const pid_t child : children(server)) {
            if (child != other_than && process_name(child) == name &&
                (!pid_namespaces || vn::test::in_own_pid_namespace(child)))
                return {child, child};
            const auto grand = children(child);
            if (grand.size() == 1 && grand[0] != other_than && process_name(grand[0]) == name)
                return {child, grand[0]};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return {};
}

void check_confined(const Jailed& jailed) {
    // A spare found right after its fork may still be entering the jail (it reads nothing from its
    // socket before it is narrowed); wait for the filter, then check everything.
    for (int i = 0; i < 1000 && status_field(jailed.process, "Seccomp") != "2"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    for (const pid_t pid : {jailed.reaper, jailed.process}) {
        INFO("pid " << pid << (pid == jailed.process ? " (worker)" : " (reaper)"));
        CHECK(status_field(pid, "NoNewPrivs") == "1");
        CHECK(status_field(pid, "Seccomp") == "2");
        CHECK(status_field(pid, "CapEff") == "0000000000000000");
        CHECK(status_field(pid, "CapPrm") == "0000000000000000");
    }
}

// The worker's fd table: stdio, its context socket (fd 3), and what INIT gave it (the fence
// eventfd, shm memfds); never another client's or context's socket.
void check_fd_table(pid_t worker) {
    const std::string fd_dir = "/proc/" + std::to_string(worker) + "/fd";
    DIR* dir = ::opendir(fd_dir.c_str());
    if (!dir) {
        WARN("cannot read " << fd_dir << " (needs CAP_SYS_PTRACE: workers are not dumpable)");
        return;
    }
    std::vector<std::string> unexpected;
    int sockets = 0;
    while (dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.')
            continue;
        char target[256] = {};
        const std::string link = fd_dir + "/" + entry->d_name;
        ::readlink(link.c_str(), target, sizeof(target) - 1);
        const std::string fd = entry->d_name;
        const std::string what = target;
        if (fd == "0") {
            CHECK(what == "/dev/null");
        } else if (fd == "1" || fd == "2") {
            // stderr and its copy: the pipe this test reads
        } else if (what.rfind("socket:", 0) == 0) {
            ++sockets;
            CHECK(fd == "3");
        } else if (what != "anon_inode:[eventfd]" && what.rfind("/memfd:", 0) != 0) {
            unexpected.push_back(fd + " -> " + what);
        }
    }
    ::closedir(dir);
    CHECK(sockets == 1);
    for (const auto& u : unexpected)
        UNSCOPED_INFO("unexpected fd " << u);
    CHECK(unexpected.empty());
}

} // namespace

TEST_CASE("workers of the real server run jailed", "[server][jail]") {
    // Default: the worker was a spare, jailed before it had a context. --no-spare-worker: forked
    // and jailed on CREATE_CONTEXT.
    const bool spare = GENERATE(true, false);
    INFO((spare ? "from a spare" : "--no-spare-worker"));
    ServerProcess server(spare ? std::vector<std::string>{}
                               : std::vector<std::string>{"--no-spare-worker"});
    auto ctx = create_context(server.proxy, 1);
    REQUIRE(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    const Jailed worker = find_jailed(server.pid, "vn-ctx-1");
    REQUIRE(worker.process > 0);
    check_confined(worker);
    check_fd_table(worker.process);
#if defined(__x86_64__) || defined(__aarch64__)
    // Handed over (jail.h): the worker is the server's own child, with no reaper beside it.
    if (vn::sandbox::Jail::probe_namespaces().pid)
        CHECK(worker.reaper == worker.process);
#endif
    // The worker, and with spares the two spares kept ready and the zygote that forks them
    // (zygote.h): nothing else.
    if (spare)
        CHECK(find_jailed(server.pid, "vn-spare").process > 0);
    // Counted once the pool is refilled: until then a spare the zygote just forked may still
    // be handing over to its worker (two processes for a moment).
    const std::size_t expected = spare ? 4u : 1u;
    auto direct = children(server.pid);
    for (int i = 0; i < 1000 && direct.size() != expected; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        direct = children(server.pid);
    }
    CHECK(direct.size() == expected);
    INFO(server.log());
}

std::string namespace_of(pid_t pid, const char* kind) {
    char link[128] = {};
    const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
    return ::readlink(path.c_str(), link, sizeof(link) - 1) > 0 ? std::string(link) : "";
}

TEST_CASE("workers of the real server share one network and IPC namespace, never the server's",
          "[server][jail][netns]") {
    // The server closes the fds a worker inherits before the jail's setup; the jail's hold on the
    // shared namespace must survive that, or every worker pays for a network namespace of its own.
    if (!vn::sandbox::Jail::probe_namespaces().others) {
        WARN("no network namespaces here");
        return;
    }
    // Spares the zygote makes in their namespaces, and (where its clone is refused: a test-only
    // option has the kernel refuse it) spares that make their own.
    const bool refused = GENERATE(false, true);
    INFO((refused ? "the zygote's clone refused" : "born in their namespaces"));
    ServerProcess server(
        refused ? std::vector<std::string>{"--log-level=debug", "--test-zygote-clone-refused"}
                : std::vector<std::string>{"--log-level=debug"});
    auto ctx = create_context(server.proxy, 1);
    REQUIRE(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    const Jailed worker = find_jailed(server.pid, "vn-ctx-1");
    const Jailed spare = find_jailed(server.pid, "vn-spare");
    REQUIRE(worker.process > 0);
    REQUIRE(spare.process > 0);
    check_confined(worker);
    check_confined(spare);
    const std::string log = server.log();
    INFO(log);
    CHECK(log.find("the worker gets its own") == std::string::npos);
    CHECK((log.find("zygote: cannot make a worker in its namespaces") != std::string::npos) ==
          refused);
    const std::string worker_net = namespace_of(worker.process, "net");
    const std::string spare_net = namespace_of(spare.process, "net");
    if (worker_net.empty() || spare_net.empty()) {
        WARN("cannot read the workers' /proc/<pid>/ns (needs CAP_SYS_PTRACE: workers are not "
             "dumpable); only the server's log was checked");
        return;
    }
    for (const char* kind : {"net", "ipc"}) {
        INFO(kind);
        CHECK(namespace_of(worker.process, kind) == namespace_of(spare.process, kind));
        CHECK(namespace_of(worker.process, kind) != namespace_of(server.pid, kind));
    }
    // The user namespace is the zygote's, shared by the workers it made in their namespaces (it
    // emptied the bounding set once for all of them); a spare that makes its own namespaces has
    // its own. Mount and PID namespaces are each worker's own either way.
    for (const char* kind : {"user", "mnt", "pid"}) {
        INFO(kind);
        const std::string mine = namespace_of(worker.process, kind);
        CHECK_FALSE(mine.empty());
        const bool shared = !refused && std::string_view(kind) == "user";
        CHECK((mine == namespace_of(spare.process, kind)) == shared);
        CHECK(mine != namespace_of(server.pid, kind));
    }
}

// The worker takes its context's name (vn-ctx-<id>), cut to the 15 characters of a thread name
// for a 10-digit id, as ps and the tests find it.
TEST_CASE("a context's worker is named after its id, cut to a thread name's length",
          "[server][spare]") {
    ServerProcess server({});
    auto small = create_context(server.proxy, 7);
    auto large = create_context(server.proxy, 4000000123u);
    REQUIRE(fence_round_trip(small.get()) == VN_PROXY_OK);
    REQUIRE(fence_round_trip(large.get()) == VN_PROXY_OK);
    CHECK(find_jailed(server.pid, "vn-ctx-7").process > 0);
    CHECK(find_jailed(server.pid, "vn-ctx-40000001").process > 0);
}

TEST_CASE("a spare worker waits jailed, serves the next context and is replaced",
          "[server][jail][spare]") {
    // One spare, so that which one serves the next context is known (the default keeps two,
    // oldest first).
    ServerProcess server({"--spare-workers=1"});
    const Jailed spare = find_jailed(server.pid, "vn-spare");
    REQUIRE(spare.process > 0);
    // Confined before any guest can reach it, holding nothing but stdio and its socket.
    check_confined(spare);
    check_fd_table(spare.process);

    auto ctx = create_context(server.proxy, 5);
    REQUIRE(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    const Jailed worker = find_jailed(server.pid, "vn-ctx-5");
    CHECK(worker.process == spare.process);
    const Jailed next = find_jailed(server.pid, "vn-spare", spare.process);
    REQUIRE(next.process > 0);
    check_confined(next);

    // Contexts keep coming from spares: each one serves, and each leaves a new spare behind.
    auto second = create_context(server.proxy, 6);
    REQUIRE(fence_round_trip(second.get()) == VN_PROXY_OK);
    CHECK(find_jailed(server.pid, "vn-ctx-6").process == next.process);
    CHECK(find_jailed(server.pid, "vn-spare", next.process).process > 0);
    CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    INFO(server.log());
}

TEST_CASE("a killed spare is reaped and replaced; the next context still works",
          "[server][spare]") {
    ServerProcess server({});
    const Jailed spare = find_jailed(server.pid, "vn-spare");
    REQUIRE(spare.process > 0);
    // Once it waits for its assignment: killed any earlier, the jail's reaper may die of SIGPIPE
    // on its ready pipe instead, and the log line would name that signal.
    for (int i = 0; i < 1000 && status_field(spare.process, "Seccomp") != "2"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    REQUIRE(::kill(spare.process, SIGKILL) == 0);
    server.process.wait_for_line("before it got a context", 3000);
    const std::string log = server.log();
    INFO(log);
    CHECK(log.find("killed by signal KILL before it got a context") != std::string::npos);
    const Jailed replacement = find_jailed(server.pid, "vn-spare", spare.process);
    REQUIRE(replacement.process > 0);
    CHECK(::kill(spare.reaper, 0) != 0); // reaped, not a zombie child of the server
    auto ctx = create_context(server.proxy, 2);
    REQUIRE(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    CHECK(find_jailed(server.pid, "vn-ctx-2").process == replacement.process);
    CHECK(server.alive());
}

// The zygote (server/src/zygote.h): the server's child, forking the spares as the server's
// children; when it dies the server forks its spares itself and nothing else changes.
TEST_CASE("spares come from the zygote as the server's children, and without it from the server",
          "[server][spare][zygote]") {
    ServerProcess server({});
    // Once the spares are jailed, the pool is full and nothing is being forked: the only child
    // named vn-zygote is the zygote, not one of its children before it renamed itself.
    const Jailed spare = find_jailed(server.pid, "vn-spare");
    REQUIRE(spare.process > 0);
    check_confined(spare);
    CHECK(find_jailed(server.pid, "vn-spare", spare.process).process > 0);
    std::vector<pid_t> zygotes;
    for (const pid_t child : children(server.pid))
        if (process_name(child) == "vn-zygote")
            zygotes.push_back(child);
    REQUIRE(zygotes.size() == 1);
    const pid_t zygote = zygotes[0];
    // It joined the shared network namespace's owner, made the user namespace its children
    // share and kept only CAP_SYS_ADMIN there (for its children's mount and PID namespaces),
    // with an empty bounding set. Without user namespaces it keeps nothing of what it had.
    if (vn::sandbox::Jail::probe_namespaces().user) {
        CHECK(status_field(zygote, "CapEff") == "0000000000200000");
        CHECK(status_field(zygote, "CapPrm") == "0000000000200000");
        CHECK(status_field(zygote, "CapBnd") == "0000000000000000");
        CHECK(namespace_of(zygote, "user") != namespace_of(server.pid, "user"));
        CHECK(namespace_of(zygote, "user") == namespace_of(spare.process, "user"));
    }
    // No seccomp filter (it forks and makes namespaces), but holding no client's socket: stdio, its
    // control socket, its pidfd of the server and the jail's three namespace fds at most (it
    // closes those once it has joined the shared network namespace). A spare can be jailed
    // before the zygote has closed its copies of that spare's socket and report: counted again
    // until it has.
    int fds = 0;
    for (int attempt = 0; attempt < 200; ++attempt) {
        fds = 0;
        if (DIR* dir = ::opendir(("/proc/" + std::to_string(zygote) + "/fd").c_str())) {
            while (dirent* entry = ::readdir(dir))
                fds += entry->d_name[0] != '.';
            ::closedir(dir);
        }
        if (fds <= 8)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(fds >= 4);
    CHECK(fds <= 8);
    auto first = create_context(server.proxy, 3);
    REQUIRE(fence_round_trip(first.get()) == VN_PROXY_OK);

    REQUIRE(::kill(zygote, SIGKILL) == 0);
    // Every context still gets a jailed worker: from the spares left, then forked by the server.
    std::vector<Context> contexts;
    for (std::uint32_t id = 10; id < 14; ++id) {
        contexts.push_back(create_context(server.proxy, id));
        REQUIRE(fence_round_trip(contexts.back().get()) == VN_PROXY_OK);
        const Jailed worker = find_jailed(server.pid, "vn-ctx-" + std::to_string(id));
        REQUIRE(worker.process > 0);
        check_confined(worker);
    }
    CHECK(fence_round_trip(first.get()) == VN_PROXY_OK);
    CHECK(::kill(zygote, 0) != 0); // reaped, not a zombie child of the server
    const std::string log = server.log();
    INFO(log);
    // Seen as a hang-up of its socket, or as a request it could not take, whichever came first.
    CHECK(log.find("the server forks spare workers itself") != std::string::npos);
    CHECK(server.alive());
}

TEST_CASE("a worker killed by seccomp is reported lost; the server and other contexts go on",
          "[server][seccomp]") {
    // Test-only server option: the worker of context 7 calls ptrace() shortly after it started
    // serving.
    ServerProcess server({"--test-worker-seccomp-violation=7"});
    auto bystander = create_context(server.proxy, 1);
    REQUIRE(fence_round_trip(bystander.get()) == VN_PROXY_OK);
    auto victim = create_context(server.proxy, 7);
    bool lost = false;
    for (int i = 0; i < 500 && !lost; ++i) {
        lost = vn_proxy_context_check(victim.get()) == VN_PROXY_ERROR_CONTEXT_LOST ||
               fence_round_trip(victim.get()) == VN_PROXY_ERROR_CONTEXT_LOST;
        if (!lost)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(lost);
    CHECK(vn_proxy_context_is_lost(victim.get()));
    CHECK(server.alive());
    // The server saw why, before anyone destroyed the context: its log names the signal.
    server.process.wait_for_line("killed by signal SYS", 3000);
    const std::string log = server.log();
    INFO(log);
    CHECK(log.find("killed by signal SYS") != std::string::npos);
    CHECK(fence_round_trip(bystander.get()) == VN_PROXY_OK);
    victim.reset();
    auto replacement = create_context(server.proxy, 8);
    CHECK(fence_round_trip(replacement.get()) == VN_PROXY_OK);
    CHECK(fence_round_trip(bystander.get()) == VN_PROXY_OK);
}
