// Every scenario through libvenus-proxy against our server and against virglrenderer 0.10.4 on
// lavapipe; where both renderers run the same driver their answers must agree field by field.
#include "backends.h"
#include "fill_comp.spv.h" // SPIR-V of tests/executor/fill.comp
#include "vn/client/guest.h"
#include "vn/scenarios/compute_dispatch.h"
#include "vn/scenarios/synchronization.h"
#include "vn/test/scenario_checks.h"

#include <cstring>
#include <fcntl.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace vn;
using scenarios::PhysicalDeviceInfo;

namespace {

constexpr std::uint32_t invocations = 256;

std::span<const std::uint32_t> fill_spirv() {
    return {vn_fill_comp_spv, sizeof(vn_fill_comp_spv) / sizeof(vn_fill_comp_spv[0])};
}

// Our renderer hands host-visible memory out as SHM, which the guest maps. virglrenderer 0.10.4
// exports lavapipe's memory as an OPAQUE fd that only a Vulkan import can map, so there the
// dispatch and its fence are checked but the words cannot be read.
void check_compute(const test::Backend& backend, const scenarios::ComputeRun& run) {
    if (backend.layout == VN_PROXY_LAYOUT_V1) {
        CHECK(run.fd_type == client::FdType::Shm);
        REQUIRE(run.readable);
    }
    if (!run.readable) {
        CHECK(run.fd_type == client::FdType::Opaque);
        CHECK(run.values.empty());
        WARN(backend.name << ": device memory is an OPAQUE fd; output not guest-readable");
        return;
    }
    test::check_fill_output(run.values, invocations);
}

struct Answers {
    std::uint32_t instance_version = 0;
    std::vector<VkExtensionProperties> instance_extensions;
    PhysicalDeviceInfo device;
    scenarios::ComputeRun compute;
    scenarios::TimelineResults timeline;
    scenarios::FenceResults fences;
};

Answers run_all(const test::Backend& backend) {
    INFO(backend.name);
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    Answers a;
    a.instance_version = scenarios::enumerate_instance_version(guest);
    a.instance_extensions = scenarios::enumerate_instance_extensions(guest);
    const auto device = scenarios::create_device(guest);
    a.device = device.physical_device;
    a.compute = scenarios::run_storage_shader(guest, device, fill_spirv(), invocations);
    a.timeline = scenarios::exercise_timeline_semaphore(guest, device);
    a.fences = scenarios::exercise_fences(guest, device);
    scenarios::destroy_device(guest, device);
    CHECK_FALSE(transport.is_lost());
    return a;
}

bool has(const std::vector<VkExtensionProperties>& list, const char* name) {
    for (const auto& e : list)
        if (std::strcmp(e.extensionName, name) == 0)
            return true;
    return false;
}

template <typename T>
bool same_bytes(const T& a, const T& b) {
    return std::memcmp(&a, &b, sizeof(T)) == 0;
}

void queries_are_sane(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    CHECK(scenarios::enumerate_instance_version(guest) >= VK_API_VERSION_1_1);
    const auto ext = scenarios::enumerate_instance_extensions(guest);
    CHECK(has(ext, "VK_EXT_command_serialization"));
    CHECK(has(ext, "VK_MESA_venus_protocol"));
    const auto instance = scenarios::create_instance(guest);
    const auto pds = scenarios::enumerate_physical_devices(guest, instance);
    REQUIRE(pds.size() >= 1);
    const PhysicalDeviceInfo info = scenarios::query_physical_device(guest, pds[0]);
    CHECK(info.name().find("llvmpipe") != std::string::npos);
    CHECK(info.properties.apiVersion >= VK_API_VERSION_1_1);
    CHECK(VK_API_VERSION_MINOR(info.properties.apiVersion) <= 3);
    CHECK(info.properties12.driverID == VK_DRIVER_ID_MESA_LLVMPIPE);
    CHECK(info.features12.timelineSemaphore == VK_TRUE);
    CHECK(info.features.shaderInt64 == VK_TRUE);
    CHECK_FALSE(info.queue_families.empty());
    CHECK(info.memory.memoryTypeCount >= 1);
    CHECK_FALSE(info.extensions.empty());
    scenarios::destroy_instance(guest, instance);
    CHECK(guest.sync() == client::Status::Ok);
}

void compute_runs(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    const auto device = scenarios::create_device(guest);
    check_compute(backend, scenarios::run_storage_shader(guest, device, fill_spirv(), invocations));
    // Twice on one device: the scenario cleans up after itself.
    check_compute(backend, scenarios::run_storage_shader(guest, device, fill_spirv(), invocations));
    scenarios::destroy_device(guest, device);
}

void synchronization_works(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    const auto device = scenarios::create_device(guest);
    test::check_synchronization(guest, device);
    scenarios::destroy_device(guest, device);
}

// Three guests on one server, interleaved step by step: each context has its own objects and
// ids (they even reuse the same ids), and ending one leaves the others running.
void contexts_share_a_server(const test::Backend& backend) {
    const auto server = test::spawn(backend);
    std::vector<std::unique_ptr<client::ProxyTransport>> transports;
    std::vector<std::unique_ptr<client::Guest>> guests;
    for (int i = 0; i < 3; ++i) {
        transports.push_back(std::make_unique<client::ProxyTransport>(server));
        guests.push_back(std::make_unique<client::Guest>(*transports.back()));
    }
    std::vector<scenarios::Device> devices;
    for (auto& g : guests)
        devices.push_back(scenarios::create_device(*g));
    for (std::size_t i = 0; i < guests.size(); ++i)
        check_compute(backend, scenarios::run_storage_shader(*guests[i], devices[i], fill_spirv(),
                                                             invocations));
    // The first context goes away; the other two carry on.
    guests[0].reset();
    transports[0].reset();
    for (std::size_t i = 1; i < guests.size(); ++i) {
        const auto t = scenarios::exercise_timeline_semaphore(*guests[i], devices[i]);
        CHECK(t.after_queue_signal == 9);
        check_compute(backend, scenarios::run_storage_shader(*guests[i], devices[i], fill_spirv(),
                                                             invocations));
        CHECK_FALSE(transports[i]->is_lost());
    }
}

// The same, with each guest on its own thread at the same time, as a VMM's vCPU threads would.
void contexts_run_concurrently(const test::Backend& backend) {
    const auto server = test::spawn(backend);
    constexpr int count = 3;
    std::vector<std::string> failures(count);
    std::vector<scenarios::ComputeRun> runs(count);
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i)
        threads.emplace_back([&, i] {
            try {
                client::ProxyTransport transport(server, "thread-" + std::to_string(i));
                client::Guest guest(transport);
                const auto device = scenarios::create_device(guest);
                for (int round = 0; round < 3; ++round)
                    runs[i] =
                        scenarios::run_storage_shader(guest, device, fill_spirv(), invocations);
                (void)scenarios::exercise_timeline_semaphore(guest, device);
                scenarios::destroy_device(guest, device);
            } catch (const std::exception& e) {
                failures[i] = e.what();
            }
        });
    for (auto& t : threads)
        t.join();
    for (int i = 0; i < count; ++i) {
        INFO("thread " << i << ": " << failures[i]);
        CHECK(failures[i].empty());
        check_compute(backend, runs[i]);
    }
}

} // namespace

E2E_BOTH("scenario: several contexts on their own threads at once", "[scenario]",
         contexts_run_concurrently)
E2E_BOTH("scenario: instance and physical-device queries", "[scenario]", queries_are_sane)
E2E_BOTH("scenario: a compute shader's output read through a mapped blob", "[scenario]",
         compute_runs)
E2E_BOTH("scenario: timeline semaphores and fences", "[scenario]", synchronization_works)
E2E_BOTH("scenario: several contexts at once on one server", "[scenario]", contexts_share_a_server)

TEST_CASE("scenario: our server answers as virglrenderer 0.10.4 does", "[scenario][compare]") {
    if (!test::virgl_available()) {
        WARN("SKIPPED: /usr/libexec/virgl_render_server is not installed");
        return;
    }
    const Answers ours = run_all(test::ours());
    const Answers ref = run_all(test::virgl());

    CHECK(ours.instance_version == ref.instance_version);
    for (const char* name : {"VK_EXT_command_serialization", "VK_MESA_venus_protocol"}) {
        CHECK(has(ours.instance_extensions, name));
        CHECK(has(ref.instance_extensions, name));
    }

    const auto& a = ours.device;
    const auto& b = ref.device;
    CHECK(a.name() == b.name());
    CHECK(a.properties.apiVersion == b.properties.apiVersion);
    CHECK(a.properties.driverVersion == b.properties.driverVersion);
    CHECK(a.properties.vendorID == b.properties.vendorID);
    CHECK(a.properties.deviceID == b.properties.deviceID);
    CHECK(a.properties.deviceType == b.properties.deviceType);
    CHECK(same_bytes(a.properties.pipelineCacheUUID, b.properties.pipelineCacheUUID));
    CHECK(same_bytes(a.properties.limits, b.properties.limits));
    CHECK(same_bytes(a.properties.sparseProperties, b.properties.sparseProperties));
    CHECK(same_bytes(a.properties11, b.properties11));
    CHECK(same_bytes(a.properties12, b.properties12));
    CHECK(same_bytes(a.features, b.features));
    CHECK(same_bytes(a.features11, b.features11));
    CHECK(same_bytes(a.features12, b.features12));
    REQUIRE(a.queue_families.size() == b.queue_families.size());
    for (std::size_t i = 0; i < a.queue_families.size(); ++i)
        CHECK(same_bytes(a.queue_families[i], b.queue_families[i]));
    CHECK(same_bytes(a.memory, b.memory));
    // Both expose only what lavapipe has; each at most at lavapipe's spec version (checked
    // against the driver itself in extension_filter_test.cpp). An extension both expose has
    // the same name; the lists differ only by what each protocol table can carry.
    std::size_t common = 0;
    for (const auto& e : a.extensions)
        common += has(b.extensions, e.extensionName);
    CHECK(common > 0);

    check_compute(test::ours(), ours.compute);
    check_compute(test::virgl(), ref.compute);
    if (ref.compute.readable)
        CHECK(ours.compute.values == ref.compute.values);
    CHECK(ours.timeline.after_queue_signal == ref.timeline.after_queue_signal);
    CHECK(ours.timeline.wait_unreached == ref.timeline.wait_unreached);
    CHECK(ours.fences.after_reset == ref.fences.after_reset);
    CHECK(ours.fences.created_signaled == ref.fences.created_signaled);
}

namespace {
// A stream far larger than any ring, run from a shmem blob: 25000 commands, then a call whose
// reply shows the context kept going.
void large_stream_runs_indirectly(const test::Backend& backend) {
    client::ProxyTransport transport(test::spawn(backend));
    client::Guest guest(transport);
    const auto device = scenarios::create_device(guest);
    const std::uint64_t sem = guest.new_id();
    VkSemaphoreTypeCreateInfo type{};
    type.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
    type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    VkSemaphoreCreateInfo sci{};
    sci.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    sci.pNext = &type;
    VkSemaphore h = scenarios::handle<VkSemaphore>(sem);
    gen::CreateSemaphoreArgs cs;
    cs.device = device.ref();
    cs.pCreateInfo = &sci;
    cs.pSemaphore = &h;
    REQUIRE(scenarios::call(guest, cs).ret == VK_SUCCESS);
    // Signals 1..25000 in order, all in one stream.
    std::vector<std::byte> stream;
    protocol::Writer w(stream);
    constexpr std::uint64_t last = 25000;
    for (std::uint64_t v = 1; v <= last; ++v) {
        VkSemaphoreSignalInfo signal{};
        signal.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
        signal.semaphore = h;
        signal.value = v;
        gen::SignalSemaphoreArgs ss;
        ss.device = device.ref();
        ss.pSignalInfo = &signal;
        gen::encode_args(w, 0, ss);
    }
    REQUIRE(stream.size() > 1u << 20);
    REQUIRE(guest.submit_indirect(stream) == client::Status::Ok);
    std::uint64_t value = 0;
    gen::GetSemaphoreCounterValueArgs gv;
    gv.device = device.ref();
    gv.semaphore = scenarios::ref<VkSemaphore>(sem);
    gv.pValue = &value;
    CHECK(*scenarios::call(guest, gv).pValue == last);
    // The blob is reused for a smaller stream.
    VkSemaphoreSignalInfo signal{};
    signal.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
    signal.semaphore = h;
    signal.value = last + 1;
    gen::SignalSemaphoreArgs ss;
    ss.device = device.ref();
    ss.pSignalInfo = &signal;
    stream.clear();
    protocol::Writer small(stream);
    gen::encode_args(small, 0, ss);
    REQUIRE(guest.submit_indirect(stream) == client::Status::Ok);
    CHECK(*scenarios::call(guest, gv).pValue == last + 1);
    CHECK_FALSE(transport.is_lost());
    scenarios::destroy_device(guest, device);
}
} // namespace

E2E_BOTH("scenario: a stream larger than a ring runs from a shmem blob", "[scenario]",
         large_stream_runs_indirectly)

namespace {
// `venus-render-server worker --single-context` on one end of a socketpair, reaped on scope exit.
class SingleContextWorker {
  public:
    explicit SingleContextWorker(const std::string& server) {
        int pair[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
        m_ours.reset(pair[0]);
        client::UniqueFd theirs(pair[1]);
        const std::string fd = std::to_string(theirs.get());
        m_pid = ::fork();
        REQUIRE(m_pid >= 0);
        if (m_pid == 0) {
            ::fcntl(theirs.get(), F_SETFD, 0); // the worker inherits its end, and only that
            ::execl(server.c_str(), server.c_str(), "worker", "--single-context", "--socket-fd",
                    fd.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }
    ~SingleContextWorker() {
        m_ours.reset();
        int status = 0;
        ::waitpid(m_pid, &status, 0);
    }
    client::UniqueFd take_socket() { return std::move(m_ours); }

  private:
    client::UniqueFd m_ours;
    pid_t m_pid = -1;
};
} // namespace

TEST_CASE("scenario: a context adopted straight from a single-context worker [ours]",
          "[scenario][ours]") {
    SingleContextWorker worker(test::ours().path);
    {
        const auto transport =
            client::ProxyTransport::adopt(worker.take_socket(), VN_PROXY_LAYOUT_V1);
        CHECK(transport->server() == nullptr);
        client::Guest guest(*transport);
        const auto device = scenarios::create_device(guest);
        check_compute(test::ours(),
                      scenarios::run_storage_shader(guest, device, fill_spirv(), invocations));
        scenarios::destroy_device(guest, device);
        CHECK_FALSE(transport->is_lost());
    }
}
