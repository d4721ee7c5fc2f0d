// The happy paths, driven through libvenus-proxy against the real server binary. Each runs against
// our server (1.x layout) and, where installed, Debian's virgl_render_server (0.10 layout).
#include "harness.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

using namespace vn::test;

namespace {

void context_lifecycle(const Backend& backend) {
    const int fds_before = count_open_fds();
    {
        auto server = spawn(backend);
        const pid_t server_pid = vn_proxy_server_pid(server.get());
        // Warm up once: a server may open lasting fds (driver, log) on its first context.
        create_context(server.get(), 99).reset();
        const int server_fds = settled_fd_count(server_pid);
        for (std::uint32_t round = 0; round < 3; ++round) {
            auto ctx = create_context(server.get(), 1);
            const auto stream = empty_stream();
            CHECK(vn_proxy_context_submit_cmd(ctx.get(), stream.data(), stream.size()) ==
                  VN_PROXY_OK);
            CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
            CHECK(vn_proxy_context_check(ctx.get()) == VN_PROXY_OK);
        }
        // The server keeps no fd of a destroyed context.
        CHECK(settled_fd_count(server_pid) == server_fds);
    }
    CHECK(count_open_fds() == fds_before);
}

void many_contexts(const Backend& backend) {
    const int fds_before = count_open_fds();
    {
        auto server = spawn(backend);
        constexpr std::uint32_t kCount = 16;
        std::vector<ContextPtr> contexts;
        for (std::uint32_t id = 1; id <= kCount; ++id)
            contexts.push_back(create_context(server.get(), id * 7));
        // Interleave work so that a mixed-up context socket would show as a wrong seqno.
        for (int round = 0; round < 3; ++round) {
            for (auto& ctx : contexts) {
                const auto stream = trivial_stream(1);
                REQUIRE(vn_proxy_context_submit_cmd(ctx.get(), stream.data(), stream.size()) ==
                        VN_PROXY_OK);
                REQUIRE(fence_round_trip(ctx.get()) == VN_PROXY_OK);
            }
        }
        for (auto& ctx : contexts) {
            std::uint32_t seqno = 0;
            REQUIRE(vn_proxy_context_retired_seqno(ctx.get(), 0, &seqno) == VN_PROXY_OK);
            CHECK(seqno == 3);
        }
        // Destroying half leaves the others working.
        for (std::size_t i = 0; i < contexts.size(); i += 2)
            contexts[i].reset();
        for (std::size_t i = 1; i < contexts.size(); i += 2)
            CHECK(fence_round_trip(contexts[i].get()) == VN_PROXY_OK);
    }
    CHECK(count_open_fds() == fds_before);
}

void fences(const Backend& backend) {
    auto server = spawn(backend);
    SECTION("eventfd is signalled and the seqno lands in shared memory") {
        auto ctx = create_context(server.get(), 1, true);
        const int efd = vn_proxy_context_fence_fd(ctx.get());
        REQUIRE(efd >= 0);
        std::uint32_t seqno = 0;
        REQUIRE(vn_proxy_context_submit_fence(ctx.get(), 0, &seqno) == VN_PROXY_OK);
        CHECK(seqno == 1);
        pollfd pfd{efd, POLLIN, 0};
        REQUIRE(::poll(&pfd, 1, 5000) == 1);
        std::uint64_t count = 0;
        REQUIRE(::read(efd, &count, sizeof(count)) == sizeof(count));
        CHECK(count >= 1);
        std::uint32_t retired = 0;
        REQUIRE(vn_proxy_context_retired_seqno(ctx.get(), 0, &retired) == VN_PROXY_OK);
        CHECK(retired == 1);
        for (std::uint32_t i = 2; i <= 50; ++i) {
            REQUIRE(vn_proxy_context_submit_fence(ctx.get(), 0, &seqno) == VN_PROXY_OK);
            CHECK(seqno == i);
        }
        CHECK(vn_proxy_context_wait_fence(ctx.get(), 0, 50, 5000) == VN_PROXY_OK);
        REQUIRE(vn_proxy_context_retired_seqno(ctx.get(), 0, &retired) == VN_PROXY_OK);
        CHECK(retired == 50);
    }
    SECTION("without an eventfd the seqno is polled") {
        auto ctx = create_context(server.get(), 2, false);
        CHECK(vn_proxy_context_fence_fd(ctx.get()) == -1);
        CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
        CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
        std::uint32_t retired = 0;
        REQUIRE(vn_proxy_context_retired_seqno(ctx.get(), 0, &retired) == VN_PROXY_OK);
        CHECK(retired == 2);
    }
    SECTION("a fence not yet submitted times out") {
        auto ctx = create_context(server.get(), 3, true);
        CHECK(vn_proxy_context_wait_fence(ctx.get(), 0, 5, 50) == VN_PROXY_ERROR_TIMEOUT);
    }
}

void split_submits(const Backend& backend) {
    auto server = spawn(backend);
    auto ctx = create_context(server.get(), 1);
    // 16 bytes per command: 16 fits inline exactly, 17 spills one command into a second datagram.
    for (const std::size_t commands : {16u, 17u, 64u, 1024u, 8000u}) {
        const auto stream = trivial_stream(commands);
        INFO("stream of " << stream.size() << " bytes");
        REQUIRE(vn_proxy_context_submit_cmd(ctx.get(), stream.data(), stream.size()) ==
                VN_PROXY_OK);
        REQUIRE(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    }
    CHECK(vn_proxy_context_check(ctx.get()) == VN_PROXY_OK);
}

void shm_resources(const Backend& backend) {
    const int fds_before = count_open_fds();
    {
        auto server = spawn(backend);
        auto ctx = create_context(server.get(), 1);
        auto other = create_context(server.get(), 2);

        constexpr std::uint64_t kSize = 64 * 1024;
        vn_proxy_blob blob{};
        REQUIRE(vn_proxy_context_create_resource(
                    ctx.get(), 10, 0, kSize, VN_PROXY_BLOB_FLAG_MAPPABLE, &blob) == VN_PROXY_OK);
        UniqueFd blob_fd(blob.fd);
        CHECK(blob.fd_type == VN_PROXY_FD_SHM);
        CHECK((blob.map_info & 0xf) == 1); // CACHED
        // The proxy sealed it: the VMM can rely on the size.
        const int seals = ::fcntl(blob_fd.get(), F_GET_SEALS);
        CHECK((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
              (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
        CHECK(::lseek(blob_fd.get(), 0, SEEK_END) == static_cast<off_t>(kSize));

        void* map = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, blob_fd.get(), 0);
        REQUIRE(map != MAP_FAILED);
        std::memset(map, 0xa5, kSize);
        CHECK(static_cast<unsigned char*>(map)[kSize - 1] == 0xa5);
        ::munmap(map, kSize);

        // The same memory, imported into a second context, as a VMM shares a guest blob.
        CHECK(vn_proxy_context_import_resource(other.get(), 10, VN_PROXY_FD_SHM, blob_fd.get(),
                                               kSize) == VN_PROXY_OK);
        // Import is fire-and-forget: a fence round trip proves the worker accepted it.
        CHECK(fence_round_trip(other.get()) == VN_PROXY_OK);

        // Several more, then destroy them in another order.
        std::vector<UniqueFd> more;
        for (std::uint32_t id = 11; id < 16; ++id) {
            vn_proxy_blob b{};
            REQUIRE(vn_proxy_context_create_resource(ctx.get(), id, 0, 4096 * id,
                                                     VN_PROXY_BLOB_FLAG_MAPPABLE,
                                                     &b) == VN_PROXY_OK);
            more.emplace_back(b.fd);
        }
        for (std::uint32_t id = 15; id >= 10; --id)
            CHECK(vn_proxy_context_destroy_resource(ctx.get(), id) == VN_PROXY_OK);
        CHECK(vn_proxy_context_destroy_resource(other.get(), 10) == VN_PROXY_OK);
        // Unknown ids are ignored, not fatal.
        CHECK(vn_proxy_context_destroy_resource(ctx.get(), 999) == VN_PROXY_OK);
        CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
        CHECK(fence_round_trip(other.get()) == VN_PROXY_OK);

        // A freed id can be reused.
        vn_proxy_blob again{};
        REQUIRE(vn_proxy_context_create_resource(
                    ctx.get(), 10, 0, 4096, VN_PROXY_BLOB_FLAG_MAPPABLE, &again) == VN_PROXY_OK);
        UniqueFd again_fd(again.fd);
    }
    CHECK(count_open_fds() == fds_before);
}

void resource_refusals(const Backend& backend) {
    auto server = spawn(backend);
    auto ctx = create_context(server.get(), 1);
    vn_proxy_blob blob{};
    REQUIRE(vn_proxy_context_create_resource(ctx.get(), 1, 0, 4096, VN_PROXY_BLOB_FLAG_MAPPABLE,
                                             &blob) == VN_PROXY_OK);
    UniqueFd blob_fd(blob.fd);
    SECTION("a res_id in use is refused, and the context lives on") {
        vn_proxy_blob dup{};
        CHECK(vn_proxy_context_create_resource(ctx.get(), 1, 0, 4096, VN_PROXY_BLOB_FLAG_MAPPABLE,
                                               &dup) == VN_PROXY_ERROR_REFUSED);
    }
    SECTION("a device-memory blob id that does not exist is refused") {
        vn_proxy_blob dev{};
        CHECK(vn_proxy_context_create_resource(ctx.get(), 2, 0x1234, 4096,
                                               VN_PROXY_BLOB_FLAG_MAPPABLE |
                                                   VN_PROXY_BLOB_FLAG_SHAREABLE,
                                               &dev) == VN_PROXY_ERROR_REFUSED);
    }
    CHECK(fence_round_trip(ctx.get()) == VN_PROXY_OK);
}

} // namespace

PROTOCOL_TEST("context lifecycle", "[lifecycle]", context_lifecycle)
PROTOCOL_TEST("many contexts at once", "[lifecycle]", many_contexts)
PROTOCOL_TEST("fences on the CPU ring", "[fence]", fences)
PROTOCOL_TEST("split submits", "[submit]", split_submits)
PROTOCOL_TEST("shm resources", "[resource]", shm_resources)
PROTOCOL_TEST("resource refusals", "[resource]", resource_refusals)

TEST_CASE("a worker holds only its own context's fds", "[lifecycle][ours]") {
    auto server = spawn(ours());
    const pid_t server_pid = vn_proxy_server_pid(server.get());
    auto first = create_context(server.get(), 1);
    auto second = create_context(server.get(), 2);
    REQUIRE(fence_round_trip(second.get()) == VN_PROXY_OK);
    const pid_t worker = find_context_worker(server_pid, 2).worker;
    REQUIRE(worker > 0);
    // stdin, stdout, stderr, its context socket and its eventfd: no sibling's socket, no shmem fd
    // (the mapping is enough), nothing of the server's.
    CHECK(settled_fd_count(worker) == 5);
}

// The server says which malloc it runs on (--version, and its start-up log); a worker, forked
// from it, must run on the same one: jemalloc mapped in its address space exactly when the server
// says jemalloc.
TEST_CASE("a worker runs on the allocator the server names", "[lifecycle][ours]") {
    std::string version;
    {
        const std::string command = std::string(VN_TEST_SERVER_PATH) + " --version";
        FILE* out = ::popen(command.c_str(), "r");
        REQUIRE(out);
        char buffer[512];
        while (std::fgets(buffer, sizeof(buffer), out))
            version += buffer;
        REQUIRE(::pclose(out) == 0);
    }
    INFO(version);
    REQUIRE(version.find("allocator: ") != std::string::npos);
    const bool jemalloc = version.find("allocator: jemalloc") != std::string::npos;

    auto server = spawn(ours());
    auto ctx = create_context(server.get(), 1);
    REQUIRE(fence_round_trip(ctx.get()) == VN_PROXY_OK);
    const pid_t worker = find_context_worker(vn_proxy_server_pid(server.get()), 1).worker;
    REQUIRE(worker > 0);
    std::ifstream maps("/proc/" + std::to_string(worker) + "/maps");
    REQUIRE(maps);
    const std::string mapped((std::istreambuf_iterator<char>(maps)),
                             std::istreambuf_iterator<char>());
    CHECK((mapped.find("libjemalloc") != std::string::npos) == jemalloc);
}

// Workers are forks of the server: symbols it left to be bound lazily would be looked up again
// in every worker (server/src/main.cpp, bind_symbols_at_load). The server runs itself again with
// LD_BIND_NOW, keeping its pid, so the process the VMM started is the one that serves.
TEST_CASE("the server binds its libraries' symbols before it forks a worker", "[lifecycle][ours]") {
    RawServer server(ours());
    server.init();
    const UniqueFd ctx = server.create_context(1);
    REQUIRE(ctx);
    std::ifstream env("/proc/" + std::to_string(server.pid()) + "/environ");
    REQUIRE(env);
    bool bind_now = false;
    for (std::string entry; std::getline(env, entry, '\0');)
        bind_now |= entry == "LD_BIND_NOW=1";
    CHECK(bind_now);
    // Run again by its own path, it keeps its name for ps and pgrep (not "exe").
    std::ifstream comm("/proc/" + std::to_string(server.pid()) + "/comm");
    std::string name;
    std::getline(comm, name);
    const std::string path = VN_TEST_SERVER_PATH;
    CHECK(name == path.substr(path.rfind('/') + 1).substr(0, 15));
}

// With the host driver preloaded, a worker finds the driver's relocated read-only data (its
// GNU_RELRO) in the server's sealed memfd, mapped privately at the linker's address, instead of
// in anonymous pages every fork copies (server/src/shared_relro.h). Lavapipe's is 216 KiB, over
// the server's 64 KiB threshold.
TEST_CASE("a worker reads the preloaded driver's relocated data from shared memory",
          "[lifecycle][ours]") {
    RawServer server(ours(), {"--driver-preload=on"});
    server.init();
    const UniqueFd ctx = server.create_context(1);
    REQUIRE(ctx);
    const pid_t worker = find_context_worker(server.pid(), 1).worker;
    REQUIRE(worker > 0);
    std::ifstream maps("/proc/" + std::to_string(worker) + "/maps");
    REQUIRE(maps);
    bool driver = false, shared = false;
    for (std::string line; std::getline(maps, line);) {
        driver |= line.find("/libvulkan_lvp.so") != std::string::npos;
        shared |= line.find(" r--p ") != std::string::npos &&
                  line.find("/memfd:vn-relro:libvulkan_lvp.so") != std::string::npos;
    }
    INFO("lavapipe (mesa-vulkan-drivers) must be installed for the preload");
    REQUIRE(driver);
    CHECK(shared);
}
