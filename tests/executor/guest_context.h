#pragma once
// The guest side of one executor context for tests that need threads: the context path locks per
// command as the worker does, shared memory is real memfd mappings, and a device with a queue is
// one call away. Header-only: each test file is its own translation unit of one executable.
#include "executor.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace vn::test_guest {

using protocol::DecodeResult;

template <typename H>
H id(std::uint64_t v) {
    return protocol::handle_from_u64<H>(v);
}

// A memfd mapping, as the worker maps a guest blob.
class Memfd {
  public:
    explicit Memfd(std::size_t size) : m_size(size) {
        m_fd = ::memfd_create("ring-test", MFD_CLOEXEC);
        REQUIRE(m_fd >= 0);
        REQUIRE(::ftruncate(m_fd, static_cast<off_t>(size)) == 0);
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, m_fd, 0);
        REQUIRE(p != MAP_FAILED);
        m_data = static_cast<std::byte*>(p);
    }
    ~Memfd() {
        ::munmap(m_data, m_size);
        ::close(m_fd);
    }
    Memfd(const Memfd&) = delete;
    Memfd& operator=(const Memfd&) = delete;
    std::byte* data() const { return m_data; }
    std::size_t size() const { return m_size; }

  private:
    int m_fd = -1;
    std::byte* m_data = nullptr;
    std::size_t m_size;
};

// Resource 1 holds rings, resource 2 reply streams.
class Resources final : public decoder::ResourceProvider {
  public:
    Memfd rings{64 * 1024};
    Memfd replies{64 * 1024};
    std::optional<decoder::ShmRegion> shm(std::uint32_t id) override {
        if (id == 1)
            return decoder::ShmRegion{rings.data(), rings.size()};
        if (id == 2)
            return decoder::ShmRegion{replies.data(), replies.size()};
        return std::nullopt;
    }
};

template <typename Args>
inline std::vector<std::byte> encode(const Args& a, std::uint32_t flags = 0) {
    std::vector<std::byte> out;
    protocol::Writer w(out);
    gen::encode_args(w, flags, a);
    return out;
}

inline std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
    std::vector<std::byte> out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

inline std::vector<std::byte> set_reply_stream(std::uint32_t res, std::size_t offset,
                                               std::size_t size) {
    VkCommandStreamDescriptionMESA desc{res, offset, size};
    gen::SetReplyCommandStreamMESAArgs a;
    a.pStream = &desc;
    return encode(a);
}

inline std::vector<std::byte> seek_reply(std::size_t position) {
    gen::SeekReplyCommandStreamMESAArgs a;
    a.position = position;
    return encode(a);
}

inline std::vector<std::byte> version_request() {
    static std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs a;
    a.pApiVersion = &version;
    return encode(a, VK_COMMAND_GENERATE_REPLY_BIT_EXT);
}

inline std::uint32_t decode_version_reply(const std::byte* at, std::size_t size) {
    protocol::FatalState fatal;
    protocol::Reader in(at, size, fatal);
    protocol::Arena arena;
    protocol::Decoder d{in, arena};
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs a;
    a.pApiVersion = &version;
    REQUIRE(gen::decode_reply(d, a) == DecodeResult::Ok);
    return *a.pApiVersion;
}

// One context: its tables, executor, shared memory; context-path submits lock per command as
// the worker's do.
struct Context {
    protocol::FatalState fatal;
    protocol::Arena arena;
    decoder::ObjectTables objects{fatal};
    Resources shm;
    std::vector<std::byte> replies;
    protocol::Writer reply_writer{replies};
    protocol::Arena reply_arena;         // decoded replies point into it
    decoder::Executor executor{objects}; // last: its rings read everything above

    Context() {
        executor.set_resources(&shm);
        executor.set_reply_writer(&reply_writer);
    }

    DecodeResult submit(const std::vector<std::byte>& stream) {
        std::unique_lock lock(executor.dispatch_mutex());
        protocol::Reader in(stream.data(), stream.size(), fatal);
        protocol::Decoder d{in, arena, &objects};
        while (!in.empty()) {
            const DecodeResult r = executor.dispatch(executor.context_source(), lock, d);
            arena.reset();
            VN_TRY(r);
        }
        return DecodeResult::Ok;
    }
    template <typename Args>
    DecodeResult send(const Args& a) {
        return submit(encode(a));
    }
    // A synchronous call: its reply, decoded from the context's reply writer.
    template <typename Args>
    Args call(const Args& a) {
        const std::size_t start = replies.size();
        REQUIRE(submit(encode(a, VK_COMMAND_GENERATE_REPLY_BIT_EXT)) == DecodeResult::Ok);
        protocol::FatalState reply_fatal;
        protocol::Reader in(replies.data() + start, replies.size() - start, reply_fatal);
        protocol::Decoder d{in, reply_arena};
        Args out = a;
        const DecodeResult r = gen::decode_reply(d, out);
        INFO(reply_fatal.reason());
        REQUIRE(r == DecodeResult::Ok);
        return out;
    }
    bool is_fatal() {
        std::lock_guard lock(executor.dispatch_mutex());
        return fatal.is_fatal();
    }
    std::string reason() {
        std::lock_guard lock(executor.dispatch_mutex());
        return fatal.reason();
    }
};

inline constexpr std::uint64_t instance_id = 0x7f0000001000;
inline constexpr std::uint64_t physical_device_id = 0x7f0000002000;
inline constexpr std::uint64_t device_id = 0x7f0000003000;
inline constexpr std::uint64_t queue_id = 0x7f0000004000;
inline constexpr std::uint64_t semaphore_id = 0x7f0000005000;

// Instance, physical device, a device with timeline semaphores and its queue bound to ring_idx.
inline protocol::Ref<VkQueue> device_with_queue_on(Context& c, std::uint32_t ring_idx) {
    const char* extensions[] = {"VK_EXT_command_serialization", "VK_MESA_venus_protocol"};
    VkApplicationInfo app{
        VK_STRUCTURE_TYPE_APPLICATION_INFO, nullptr, "test", 1, "venus", 1, VK_API_VERSION_1_3};
    VkInstanceCreateInfo ici{
        VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, nullptr, 0, &app, 0, nullptr, 2, extensions};
    VkInstance instance = id<VkInstance>(instance_id);
    gen::CreateInstanceArgs ci;
    ci.pCreateInfo = &ici;
    ci.pInstance = &instance;
    REQUIRE(c.send(ci) == DecodeResult::Ok);

    std::uint32_t count = 1;
    VkPhysicalDevice pd = id<VkPhysicalDevice>(physical_device_id);
    gen::EnumeratePhysicalDevicesArgs ep;
    ep.instance = {instance_id, instance};
    ep.pPhysicalDeviceCount = &count;
    ep.pPhysicalDevices = &pd;
    REQUIRE(c.submit(encode(ep, VK_COMMAND_GENERATE_REPLY_BIT_EXT)) == DecodeResult::Ok);

    VkPhysicalDeviceVulkan12Features v12{};
    v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    v12.timelineSemaphore = VK_TRUE;
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.pNext = &v12;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    VkDevice device = id<VkDevice>(device_id);
    gen::CreateDeviceArgs cd;
    cd.physicalDevice = {physical_device_id, pd};
    cd.pCreateInfo = &dci;
    cd.pDevice = &device;
    REQUIRE(c.send(cd) == DecodeResult::Ok);
    REQUIRE(c.objects.find<VkDevice>(device_id));

    VkDeviceQueueTimelineInfoMESA timeline{};
    timeline.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_TIMELINE_INFO_MESA;
    timeline.ringIdx = ring_idx;
    VkDeviceQueueInfo2 qi{};
    qi.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_INFO_2;
    qi.pNext = &timeline;
    VkQueue queue = id<VkQueue>(queue_id);
    gen::GetDeviceQueue2Args gq;
    gq.device = {device_id, device};
    gq.pQueueInfo = &qi;
    gq.pQueue = &queue;
    REQUIRE(c.send(gq) == DecodeResult::Ok);
    return {queue_id, queue};
}

} // namespace vn::test_guest
