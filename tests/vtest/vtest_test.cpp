// venus-vtest end to end: a vtest client of our own (the driver side, as Mesa's
// vn_renderer_vtest.c speaks it) against the real venus-vtest, which runs every client's context
// in a sandboxed venus-render-server worker on lavapipe.
#include "venus_proxy.h"
#include "vn_protocol.gen.h"
#include "vtest_client.h"
#include "vtest_server_process.h"

#include <catch2/catch.hpp>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

using namespace vn;
using vn::vtest::client::Batch;
using vn::vtest::client::SyncValue;
using vn::vtest::client::VtestClient;
using vn::vtest::test::VtestServerProcess;

namespace {

bool readable(int fd, int wait_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, wait_ms) == 1 && (p.revents & POLLIN);
}

struct Mapping {
    void* data = MAP_FAILED;
    std::size_t size = 0;
    Mapping(int fd, std::size_t s) : size(s) {
        data = ::mmap(nullptr, s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    ~Mapping() {
        if (data != MAP_FAILED)
            ::munmap(data, size);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
};

// A guest driving Venus over vtest the way Mesa does: replies in a shm blob, each call followed by
// a ring-0 sync the server signals once the worker has executed it.
class VenusGuest {
  public:
    static constexpr std::size_t kReplySize = 64 * 1024;

    explicit VenusGuest(const std::string& socket, const std::string& name = "venus-guest") {
        REQUIRE(m_client.connect(socket));
        REQUIRE(m_client.handshake(name));
        auto blob =
            m_client.create_blob(vtest::kBlobHost3d, vtest::kBlobFlagMappable, kReplySize, 0);
        REQUIRE(blob);
        m_reply_res = blob->res_id;
        m_reply = std::make_unique<Mapping>(blob->fd.get(), kReplySize);
        REQUIRE(m_reply->data != MAP_FAILED);
        auto sync = m_client.sync_create(0);
        REQUIRE(sync);
        m_sync = *sync;
    }

    VtestClient& client() { return m_client; }

    template <typename Args>
    void send(const Args& a) {
        std::vector<std::byte> s;
        protocol::Writer w(s);
        gen::encode_args(w, 0, a);
        submit(s);
    }

    template <typename Args>
    Args call(const Args& a) {
        VkCommandStreamDescriptionMESA desc{m_reply_res, 0, kReplySize};
        gen::SetReplyCommandStreamMESAArgs set;
        set.pStream = &desc;
        std::vector<std::byte> s;
        protocol::Writer w(s);
        gen::encode_args(w, 0, set);
        gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, a);
        submit(s);
        protocol::FatalState fatal;
        protocol::Reader in(static_cast<const std::byte*>(m_reply->data), kReplySize, fatal);
        protocol::Decoder d{in, m_arena};
        Args out = a;
        const auto r = gen::decode_reply(d, out);
        INFO(fatal.reason());
        REQUIRE(r == protocol::DecodeResult::Ok);
        return out;
    }

    std::uint32_t instance_version() {
        std::uint32_t version = 0;
        gen::EnumerateInstanceVersionArgs ev;
        ev.pApiVersion = &version;
        return *call(ev).pApiVersion;
    }

  private:
    void submit(std::vector<std::byte>& s) {
        while (s.size() % 4)
            s.push_back(std::byte{0});
        const SyncValue signal{m_sync, ++m_seq};
        const Batch batch{s, {signal}, 0};
        REQUIRE(m_client.submit_cmd2({&batch, 1}));
        auto fd = m_client.sync_wait(0, 30000, {&signal, 1});
        REQUIRE(fd);
        REQUIRE(readable(fd->get(), 30000));
    }

    VtestClient m_client;
    std::uint32_t m_reply_res = 0;
    std::unique_ptr<Mapping> m_reply;
    std::uint32_t m_sync = 0;
    std::uint64_t m_seq = 0;
    protocol::Arena m_arena;
};

VtestClient started_client(const VtestServerProcess& server, const std::string& name) {
    VtestClient c;
    REQUIRE(c.connect(server.socket_path()));
    REQUIRE(c.handshake(name));
    return c;
}

} // namespace

TEST_CASE("Mesa's start-up sequence") {
    VtestServerProcess server;
    VtestClient c;
    REQUIRE(c.connect(server.socket_path()));
    REQUIRE(c.create_renderer("startup"));
    CHECK(c.ping() == std::optional(true));
    CHECK(c.protocol_version(3) == std::optional(3u));
    CHECK(c.get_param(vtest::kParamMaxTimelineCount) == std::pair(1u, 64u));
    CHECK(c.get_param(2) == std::pair(0u, 0u)); // HAS_TIMELINE_SYNCOBJ: no DRM syncobjs
    CHECK(c.get_param(77) == std::pair(0u, 0u));
    // Unsupported capsets answer "invalid", they do not end the connection.
    CHECK(c.get_capset(1, 0) == std::optional(std::vector<std::uint32_t>{}));
    CHECK(c.get_capset(4, 1) == std::optional(std::vector<std::uint32_t>{}));
    const auto capset = c.get_capset(4, 0);
    REQUIRE(capset);
    REQUIRE(capset->size() == 40);
    std::vector<std::uint32_t> expected(40);
    REQUIRE(vn_proxy_get_capset(4, 0, expected.data(), 160, nullptr) == VN_PROXY_OK);
    CHECK(*capset == expected);
    CHECK((*capset)[0] == 1);  // wire format Mesa 24 requires
    CHECK((*capset)[4] == 1);  // supports_blob_id_0
    CHECK((*capset)[37] == 1); // allow_vk_wait_syncs
    CHECK((*capset)[38] == 1); // supports_multiple_timelines
    REQUIRE(c.context_init(vtest::kCapsetVenus));
    REQUIRE(server.wait_for_log("Venus context"));
    // A newer client asking for version 4 is offered 3.
    VtestClient newer;
    REQUIRE(newer.connect(server.socket_path()));
    REQUIRE(newer.create_renderer("newer"));
    CHECK(newer.protocol_version(4) == std::optional(3u));
}

TEST_CASE("shm blobs arrive as fds the client maps") {
    VtestServerProcess server;
    VtestClient c = started_client(server, "blobs");
    constexpr std::size_t size = 3 * 4096;
    auto host = c.create_blob(vtest::kBlobHost3d, vtest::kBlobFlagMappable, size, 0);
    REQUIRE(host);
    CHECK(host->res_id != 0);
    struct stat st {};
    REQUIRE(::fstat(host->fd.get(), &st) == 0);
    CHECK(static_cast<std::size_t>(st.st_size) == size);
    {
        Mapping m(host->fd.get(), size);
        REQUIRE(m.data != MAP_FAILED);
        std::memset(m.data, 0xab, size);
        CHECK(static_cast<unsigned char*>(m.data)[size - 1] == 0xab);
    }
    // Guest blobs are allocated by the server and lent to the worker.
    auto guest = c.create_blob(vtest::kBlobGuest, vtest::kBlobFlagMappable, 4096, 0);
    REQUIRE(guest);
    CHECK(guest->res_id != host->res_id);
    Mapping g(guest->fd.get(), 4096);
    CHECK(g.data != MAP_FAILED);
    REQUIRE(c.resource_unref(host->res_id));
    REQUIRE(c.resource_unref(12345)); // unknown ids are ignored, as virglrenderer does
    // The connection is still good.
    CHECK(c.sync_create(1).has_value());
}

TEST_CASE("syncs are timelines with eventfd waits") {
    VtestServerProcess server;
    VtestClient c = started_client(server, "syncs");
    const auto a = c.sync_create(5);
    const auto b = c.sync_create(0x100000000ull);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a != *b);
    CHECK(c.sync_read(*a) == std::optional<std::uint64_t>(5));
    CHECK(c.sync_read(*b) == std::optional<std::uint64_t>(0x100000000ull));
    REQUIRE(c.sync_write(*a, 9));
    CHECK(c.sync_read(*a) == std::optional<std::uint64_t>(9));

    // Already reached: readable at once.
    const SyncValue reached{*a, 9};
    auto now = c.sync_wait(0, 1000, {&reached, 1});
    REQUIRE(now);
    CHECK(readable(now->get(), 0));

    // Not yet: readable once a write gets there.
    const SyncValue pending[] = {{*a, 12}, {*b, 0x100000001ull}};
    auto all = c.sync_wait(0, vtest::kSyncWaitInfinite, pending);
    auto any = c.sync_wait(vtest::kSyncWaitFlagAny, 5000, pending);
    REQUIRE(all);
    REQUIRE(any);
    CHECK_FALSE(readable(all->get(), 50));
    CHECK_FALSE(readable(any->get(), 0));
    REQUIRE(c.sync_write(*a, 12));
    CHECK(readable(any->get(), 5000));
    CHECK_FALSE(readable(all->get(), 50));
    REQUIRE(c.sync_write(*b, 0x100000001ull));
    CHECK(readable(all->get(), 5000));

    // Timeout 0 is a poll: not kept, never signalled later.
    const SyncValue later{*a, 100};
    auto poll_only = c.sync_wait(0, 0, {&later, 1});
    REQUIRE(poll_only);
    REQUIRE(c.sync_write(*a, 100));
    CHECK(c.sync_read(*a) == std::optional<std::uint64_t>(100));
    CHECK_FALSE(readable(poll_only->get(), 50));

    REQUIRE(c.sync_unref(*b));
    // Reading a sync that is gone ends the client.
    const std::uint32_t read_b[] = {1, static_cast<std::uint32_t>(vtest::Command::SyncRead), *b};
    REQUIRE(c.send_words(read_b));
    CHECK(c.closed_by_server(5000));
    CHECK(server.wait_for_log("SYNC_READ of unknown sync"));
}

TEST_CASE("SUBMIT_CMD2 runs Venus commands and signals syncs on ring 0") {
    VtestServerProcess server;
    VenusGuest g(server.socket_path());
    CHECK(g.instance_version() >= VK_API_VERSION_1_1);

    // Several batches in one message (Mesa's 6-word descriptors): each batch's sync signals.
    VtestClient& c = g.client();
    const auto s1 = c.sync_create(0);
    const auto s2 = c.sync_create(0);
    REQUIRE(s1);
    REQUIRE(s2);
    std::vector<std::byte> stream;
    {
        std::uint32_t version = 0;
        gen::EnumerateInstanceVersionArgs ev;
        ev.pApiVersion = &version;
        protocol::Writer w(stream);
        gen::encode_args(w, 0, ev);
    }
    const Batch batches[] = {{stream, {{*s1, 3}}, 0}, {{}, {{*s2, 4}}, 0}, {stream, {}, 0}};
    REQUIRE(c.submit_cmd2(batches));
    const SyncValue both[] = {{*s1, 3}, {*s2, 4}};
    auto fd = c.sync_wait(0, 10000, both);
    REQUIRE(fd);
    CHECK(readable(fd->get(), 10000));
    CHECK(c.sync_read(*s1) == std::optional<std::uint64_t>(3));
    CHECK(c.sync_read(*s2) == std::optional<std::uint64_t>(4));
}

TEST_CASE("device memory maps as a blob with blob_id = the VkDeviceMemory id") {
    VtestServerProcess server;
    VenusGuest g(server.socket_path(), "memory");
    constexpr std::uint64_t instance_id = 0x1000, pd_id = 0x1100, device_id = 0x1200,
                            memory_id = 0x1300;
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ici.pApplicationInfo = &app;
    VkInstance instance = protocol::handle_from_u64<VkInstance>(instance_id);
    gen::CreateInstanceArgs ci;
    ci.pCreateInfo = &ici;
    ci.pInstance = &instance;
    REQUIRE(g.call(ci).ret == VK_SUCCESS);
    std::uint32_t count = 1;
    VkPhysicalDevice pd = protocol::handle_from_u64<VkPhysicalDevice>(pd_id);
    gen::EnumeratePhysicalDevicesArgs ep;
    ep.instance = {instance_id, instance};
    ep.pPhysicalDeviceCount = &count;
    ep.pPhysicalDevices = &pd;
    REQUIRE(g.call(ep).ret >= 0);
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VkDevice device = protocol::handle_from_u64<VkDevice>(device_id);
    gen::CreateDeviceArgs cd;
    cd.physicalDevice = {pd_id, pd};
    cd.pCreateInfo = &dci;
    cd.pDevice = &device;
    REQUIRE(g.call(cd).ret == VK_SUCCESS);
    VkPhysicalDeviceMemoryProperties2 mem{};
    mem.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
    gen::GetPhysicalDeviceMemoryProperties2Args gm;
    gm.physicalDevice = {pd_id, pd};
    gm.pMemoryProperties = &mem;
    const auto props = g.call(gm).pMemoryProperties->memoryProperties;
    std::uint32_t type = UINT32_MAX;
    for (std::uint32_t i = 0; i < props.memoryTypeCount && type == UINT32_MAX; ++i)
        if (props.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
            type = i;
    REQUIRE(type != UINT32_MAX);
    constexpr VkDeviceSize size = 64 * 1024;
    VkMemoryAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    ai.allocationSize = size;
    ai.memoryTypeIndex = type;
    VkDeviceMemory memory = protocol::handle_from_u64<VkDeviceMemory>(memory_id);
    gen::AllocateMemoryArgs am;
    am.device = {device_id, device};
    am.pAllocateInfo = &ai;
    am.pMemory = &memory;
    REQUIRE(g.call(am).ret == VK_SUCCESS);

    auto blob =
        g.client().create_blob(vtest::kBlobHost3d, vtest::kBlobFlagMappable, size, memory_id);
    REQUIRE(blob);
    Mapping m(blob->fd.get(), size);
    REQUIRE(m.data != MAP_FAILED);
    static_cast<std::uint32_t*>(m.data)[size / 4 - 1] = 0x600df00d;
    CHECK(static_cast<std::uint32_t*>(m.data)[size / 4 - 1] == 0x600df00d);
    REQUIRE(g.client().resource_unref(blob->res_id));
    CHECK(g.instance_version() >= VK_API_VERSION_1_1);
}

TEST_CASE("several clients at once, each with its own context") {
    VtestServerProcess server;
    constexpr int kClients = 4;
    std::vector<std::thread> threads;
    std::atomic<int> good{0};
    for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
            VtestClient c;
            if (!c.connect(server.socket_path()) || !c.handshake("parallel-" + std::to_string(i)))
                return;
            auto blob = c.create_blob(vtest::kBlobHost3d, vtest::kBlobFlagMappable, 4096, 0);
            auto sync = c.sync_create(0);
            if (!blob || !sync)
                return;
            for (std::uint64_t v = 1; v <= 50; ++v) {
                if (!c.sync_write(*sync, v) || c.sync_read(*sync) != std::optional(v))
                    return;
            }
            ++good;
        });
    }
    for (auto& t : threads)
        t.join();
    CHECK(good == kClients);
    // And Venus work on two of them side by side.
    VenusGuest a(server.socket_path(), "a");
    VenusGuest b(server.socket_path(), "b");
    CHECK(a.instance_version() >= VK_API_VERSION_1_1);
    CHECK(b.instance_version() >= VK_API_VERSION_1_1);
    CHECK(a.instance_version() == b.instance_version());
}

namespace {

struct BadInput {
    const char* what;
    const char* log;
    std::function<void(VtestClient&)> act; // connects and misbehaves
};

void check_bad_input(const BadInput& bad) {
    VtestServerProcess server;
    // A well-behaved client, connected before and after.
    VenusGuest good(server.socket_path(), "good");
    CHECK(good.instance_version() >= VK_API_VERSION_1_1);
    // Settled: a wait's eventfd copy is closed just after the client sees it signalled.
    int baseline = server.fd_count();
    for (int settled = 0; settled < 5; ++settled) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const int now = server.fd_count();
        if (now != baseline) {
            baseline = now;
            settled = 0;
        }
    }
    REQUIRE(baseline > 0);
    {
        VtestClient evil;
        REQUIRE(evil.connect(server.socket_path()));
        bad.act(evil);
        CHECK(evil.closed_by_server(10000));
    }
    CHECK(server.wait_for_log(bad.log));
    INFO("fds: baseline " << baseline << ", now " << server.fd_count());
    // Everything the bad client held is gone (context, worker socket, fence eventfd, waits).
    CHECK(server.wait_for_fd_count(baseline));
    INFO(server.log());
    CHECK(good.instance_version() >= VK_API_VERSION_1_1);
    VenusGuest later(server.socket_path(), "later");
    CHECK(later.instance_version() >= VK_API_VERSION_1_1);
}

std::uint32_t cmd(vtest::Command c) {
    return static_cast<std::uint32_t>(c);
}

} // namespace

TEST_CASE("a misbehaving client is dropped alone, holding nothing") {
    const std::vector<BadInput> cases = {
        {"first command is not CREATE_RENDERER", "the first command must be CREATE_RENDERER",
         [](VtestClient& c) {
             const std::uint32_t w[] = {1, cmd(vtest::Command::GetParam), 1};
             c.send_words(w);
         }},
        {"unknown command", "unknown command 99",
         [](VtestClient& c) {
             REQUIRE(c.handshake("unknown"));
             const std::uint32_t w[] = {0, 99};
             c.send_words(w);
         }},
        {"a virgl (OpenGL) command", "TRANSFER_GET is not supported",
         [](VtestClient& c) {
             REQUIRE(c.handshake("virgl"));
             const std::uint32_t w[] = {0, cmd(vtest::Command::TransferGet)};
             c.send_words(w);
         }},
        {"wrong length", "GET_PARAM: payload of 2 words, expected 1",
         [](VtestClient& c) {
             REQUIRE(c.handshake("length"));
             const std::uint32_t w[] = {2, cmd(vtest::Command::GetParam), 1, 1};
             c.send_words(w);
         }},
        {"size lie in SUBMIT_CMD2", "outside the",
         [](VtestClient& c) {
             REQUIRE(c.handshake("lie"));
             // One batch whose command stream claims 1000 words of a 7-word message.
             const std::uint32_t w[] = {7, cmd(vtest::Command::SubmitCmd2), 1, 1, 7, 1000, 7, 0, 0};
             c.send_words(w);
         }},
        {"too many batches for the message", "batch descriptors do not fit",
         [](VtestClient& c) {
             REQUIRE(c.handshake("batches"));
             const std::uint32_t w[] = {1, cmd(vtest::Command::SubmitCmd2), 3};
             c.send_words(w);
         }},
        {"closing in the middle of a message", "connection closed in the middle",
         [](VtestClient& c) {
             REQUIRE(c.handshake("midway"));
             const std::uint32_t w[] = {10, cmd(vtest::Command::SubmitCmd2), 1, 1, 7};
             c.send_words(w);
             ::shutdown(c.fd(), SHUT_WR);
         }},
        {"a header cut short", "in the middle of a message header",
         [](VtestClient& c) {
             REQUIRE(c.handshake("short"));
             const std::uint32_t w[] = {10};
             c.send_words(w);
             ::shutdown(c.fd(), SHUT_WR);
         }},
        {"an oversized message", "over the limit",
         [](VtestClient& c) {
             REQUIRE(c.handshake("huge"));
             const std::uint32_t w[] = {0x40000000, cmd(vtest::Command::SubmitCmd2)};
             c.send_words(w);
         }},
        {"a garbage Venus stream", "its worker is gone",
         [](VtestClient& c) {
             REQUIRE(c.handshake("garbage"));
             const std::vector<std::byte> junk(64, std::byte{0xee});
             const Batch b{junk, {}, 0};
             c.submit_cmd2({&b, 1});
         }},
        {"a blob before CONTEXT_INIT", "RESOURCE_CREATE_BLOB before CONTEXT_INIT",
         [](VtestClient& c) {
             REQUIRE(c.create_renderer("early"));
             REQUIRE(c.protocol_version(3));
             c.create_blob(vtest::kBlobHost3d, vtest::kBlobFlagMappable, 4096, 0);
         }},
        {"a blob of unknown device memory", "RESOURCE_CREATE_BLOB (blob_id 48879",
         [](VtestClient& c) {
             REQUIRE(c.handshake("nomem"));
             c.create_blob(vtest::kBlobHost3d, vtest::kBlobFlagMappable, 4096, 0xbeef);
         }},
        {"flooding waits", "too many pending waits",
         [](VtestClient& c) {
             REQUIRE(c.handshake("flood"));
             const auto s = c.sync_create(0);
             REQUIRE(s);
             const SyncValue never{*s, 1};
             // Each wait is kept until the sync gets there; the cap ends the client.
             for (int i = 0; i <= 4096; ++i) {
                 if (!c.sync_wait(0, vtest::kSyncWaitInfinite, {&never, 1}))
                     break;
             }
         }},
        {"a client that never reads its replies", "does not read its replies",
         [](VtestClient& c) {
             REQUIRE(c.handshake("deaf"));
             // Replies pile up in the socket until the server's send times out.
             std::vector<std::uint32_t> w;
             for (int i = 0; i < 4096; ++i)
                 w.insert(w.end(), {2, cmd(vtest::Command::GetCapset), 4, 0});
             for (int i = 0; i < 16; ++i)
                 c.send_words(w);
         }},
    };
    for (const auto& bad : cases) {
        SECTION(bad.what) {
            check_bad_input(bad);
        }
    }
}

TEST_CASE("single context: one client, served by a worker in the server process") {
    VtestServerProcess server(true);
    {
        VenusGuest g(server.socket_path(), "single");
        CHECK(g.instance_version() >= VK_API_VERSION_1_1);
        CHECK(server.log().find("render server running") == std::string::npos);
    }
    CHECK(server.wait_exit(10000) == 0);
}

namespace {

// Runs venus-vtest with args; its exit status and output.
std::pair<int, std::string> run_vtest(const std::string& args) {
    const std::string command = std::string(VN_TEST_VTEST_PATH) + " " + args + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof(buf), pipe))
        out += buf;
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

} // namespace

TEST_CASE("command line") {
    auto [code, out] = run_vtest("--version");
    CHECK(code == 0);
    CHECK(out.find("venus-vtest") != std::string::npos);
    std::tie(code, out) = run_vtest("--help");
    CHECK(code == 0);
    CHECK(out.find("VTEST_SOCKET_NAME") != std::string::npos);
    CHECK(out.find("--single-context") != std::string::npos);
    std::tie(code, out) = run_vtest("--no-such-option");
    CHECK(code == 2);
    std::tie(code, out) = run_vtest("--single-context --server /bin/true");
    CHECK(code == 2);
    // A missing render server is reported at start, not when the first client comes.
    std::tie(code, out) = run_vtest("--socket-path /tmp/vn-vtest-cli-" +
                                    std::to_string(::getpid()) + ".sock --server /nonexistent");
    CHECK(code == 1);
    CHECK(out.find("cannot start the render server") != std::string::npos);
    // A live server's socket is never taken over.
    VtestServerProcess server;
    VtestClient c;
    REQUIRE(c.connect(server.socket_path()));
    std::tie(code, out) =
        run_vtest("--socket-path " + server.socket_path() + " --server " + VN_TEST_SERVER_PATH);
    CHECK(code == 1);
    CHECK(out.find("already listening") != std::string::npos);
    REQUIRE(c.handshake("still-there"));
}
