#pragma once
// The guest side of one executor context, for every executor test: the context path locks per
// command as the worker does (so rings can run beside it), shared memory is real memfd mappings,
// replies are decoded as the guest driver reads them, and an instance, a device and a queue are
// one call away. Header-only: each test file is its own translation unit of one executable.
#include "executor.h"
#include "vn/os/mapping.h"
#include "vn/os/unique_fd.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>
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
    explicit Memfd(std::size_t size) : m_fd(::memfd_create("ring-test", MFD_CLOEXEC)) {
        REQUIRE(m_fd);
        REQUIRE(::ftruncate(m_fd.get(), static_cast<off_t>(size)) == 0);
        auto mapping = os::Mapping::map(m_fd.get(), size);
        REQUIRE(mapping);
        m_mapping = std::move(*mapping);
    }
    std::byte* data() const { return static_cast<std::byte*>(m_mapping.data()); }
    std::size_t size() const { return m_mapping.size(); }

  private:
    os::UniqueFd m_fd;
    os::Mapping m_mapping;
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
    // A synchronous call: runs the command with GENERATE_REPLY and decodes its reply from the
    // context's reply writer into `out` (which starts as a copy of the request, as the guest
    // driver knows what it asked). Returns how the command ran; its reply must decode.
    template <typename Args>
    DecodeResult call(const Args& request, Args& out) {
        const std::size_t start = replies.size();
        VN_TRY(submit(encode(request, VK_COMMAND_GENERATE_REPLY_BIT_EXT)));
        protocol::FatalState reply_fatal;
        protocol::Reader in(replies.data() + start, replies.size() - start, reply_fatal);
        protocol::Decoder d{in, reply_arena};
        out = request;
        const DecodeResult r = gen::decode_reply(d, out);
        INFO(reply_fatal.reason());
        REQUIRE(r == DecodeResult::Ok);
        return r;
    }
    // The same for a command that must run.
    template <typename Args>
    Args call(const Args& a) {
        Args out{};
        INFO(Args::vn_name);
        REQUIRE(call(a, out) == DecodeResult::Ok);
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

// Runs a command that must decode and run.
template <typename Args>
void send(Context& c, const Args& a) {
    INFO(Args::vn_name);
    REQUIRE(c.send(a) == DecodeResult::Ok);
}

inline constexpr std::uint64_t instance_id = 0x7f0000001000;
inline constexpr std::uint64_t physical_device_id = 0x7f0000002000;
inline constexpr std::uint64_t device_id = 0x7f0000003000;
inline constexpr std::uint64_t queue_id = 0x7f0000004000;
inline constexpr std::uint64_t semaphore_id = 0x7f0000005000;

// vkCreateInstance of instance_id as the guest driver asks for it; `args` points into the object.
struct InstanceRequest {
    const char* extensions[2] = {"VK_EXT_command_serialization", "VK_MESA_venus_protocol"};
    VkApplicationInfo app{};
    VkInstanceCreateInfo info{};
    VkInstance instance = id<VkInstance>(instance_id);
    gen::CreateInstanceArgs args;

    explicit InstanceRequest(std::uint32_t api_version = VK_API_VERSION_1_3) {
        app = {VK_STRUCTURE_TYPE_APPLICATION_INFO, nullptr, "test", 1, "venus", 1, api_version};
        info = {
            VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, nullptr, 0, &app, 0, nullptr, 2, extensions};
        args.pCreateInfo = &info;
        args.pInstance = &instance;
    }
    InstanceRequest(const InstanceRequest&) = delete;
    InstanceRequest& operator=(const InstanceRequest&) = delete;
};

inline void create_instance(Context& c, std::uint32_t api_version = VK_API_VERSION_1_3) {
    const InstanceRequest request(api_version);
    const auto reply = c.call(request.args);
    REQUIRE(reply.ret == VK_SUCCESS);
    CHECK(protocol::handle_to_u64(*reply.pInstance) == instance_id);
}

// Binds the first physical device to physical_device_id.
inline std::uint32_t enumerate_physical_devices(Context& c) {
    std::uint32_t count = 0;
    gen::EnumeratePhysicalDevicesArgs a;
    a.instance = {instance_id, id<VkInstance>(instance_id)};
    a.pPhysicalDeviceCount = &count;
    auto reply = c.call(a);
    REQUIRE(reply.ret == VK_SUCCESS);
    REQUIRE(*reply.pPhysicalDeviceCount >= 1);

    count = 1;
    VkPhysicalDevice pd = id<VkPhysicalDevice>(physical_device_id);
    a.pPhysicalDevices = &pd;
    reply = c.call(a);
    REQUIRE(reply.ret >= 0);
    REQUIRE(*reply.pPhysicalDeviceCount == 1);
    CHECK(protocol::handle_to_u64(reply.pPhysicalDevices[0]) == physical_device_id);
    return count;
}

// Instance, physical device and a device with one queue. `features` is chained to the device
// create info; `extensions` are enabled on it; `api_version` is the instance's (and so, capped
// by the driver's, the device's).
inline protocol::Ref<VkDevice> create_device(Context& c, void* features = nullptr,
                                             std::vector<const char*> extensions = {},
                                             std::uint32_t api_version = VK_API_VERSION_1_3) {
    create_instance(c, api_version);
    enumerate_physical_devices(c);
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.pNext = features;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    dci.enabledExtensionCount = static_cast<std::uint32_t>(extensions.size());
    dci.ppEnabledExtensionNames = extensions.data();
    VkDevice device = id<VkDevice>(device_id);
    gen::CreateDeviceArgs cd;
    cd.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    cd.pCreateInfo = &dci;
    cd.pDevice = &device;
    REQUIRE(c.call(cd).ret == VK_SUCCESS);
    REQUIRE(c.objects.find<VkDevice>(device_id));
    return {device_id, device};
}

// The device's queue; `chain` goes into VkDeviceQueueInfo2 (the Venus timeline binding).
inline protocol::Ref<VkQueue> get_queue(Context& c, const protocol::Ref<VkDevice>& dev,
                                        const void* chain = nullptr) {
    VkDeviceQueueInfo2 qi{};
    qi.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_INFO_2;
    qi.pNext = chain;
    VkQueue queue = id<VkQueue>(queue_id);
    gen::GetDeviceQueue2Args gq;
    gq.device = dev;
    gq.pQueueInfo = &qi;
    gq.pQueue = &queue;
    REQUIRE(c.send(gq) == DecodeResult::Ok);
    return {queue_id, queue};
}

// Instance, physical device, a device with timeline semaphores and its queue bound to ring_idx.
inline protocol::Ref<VkQueue> device_with_queue_on(Context& c, std::uint32_t ring_idx) {
    VkPhysicalDeviceVulkan12Features v12{};
    v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    v12.timelineSemaphore = VK_TRUE;
    const auto dev = create_device(c, &v12);
    VkDeviceQueueTimelineInfoMESA timeline{};
    timeline.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_TIMELINE_INFO_MESA;
    timeline.ringIdx = ring_idx;
    return get_queue(c, dev, &timeline);
}

} // namespace vn::test_guest
