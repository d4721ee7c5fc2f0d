// Venus commands executed on lavapipe: the driver-side encoder writes the stream, the decoder and
// executor run it on the host driver, and the driver-side decoder reads the replies back.
#include "executor.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

using namespace vn;
using protocol::DecodeResult;

namespace {

template <typename H>
H id(std::uint64_t v) {
    return protocol::handle_from_u64<H>(v);
}

// One renderer context: tables, executor, reply buffer, and a guest-side stream.
struct Renderer {
    protocol::FatalState fatal;
    protocol::Arena arena;
    decoder::ObjectTables objects{fatal};
    decoder::Executor executor{objects};
    std::vector<std::byte> replies;
    protocol::Writer reply_writer{replies};
    std::size_t reply_read = 0;

    Renderer() { executor.set_reply_writer(&reply_writer); }

    // Encodes one synchronous command, runs it, and decodes its reply into `out` (which starts
    // as a copy of the request, as the guest driver knows what it asked).
    template <typename Args>
    DecodeResult call(const Args& request, Args& out) {
        std::vector<std::byte> stream;
        protocol::Writer w(stream);
        gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, request);
        VN_TRY(submit(stream));
        protocol::FatalState reply_fatal;
        protocol::Reader in(replies.data() + reply_read, replies.size() - reply_read, reply_fatal);
        protocol::Arena reply_arena;
        protocol::Decoder d{in, reply_arena};
        out = request;
        const DecodeResult r = gen::decode_reply(d, out);
        reply_read = replies.size() - in.remaining();
        INFO(reply_fatal.reason());
        REQUIRE(r == DecodeResult::Ok);
        return r;
    }

    DecodeResult submit(const std::vector<std::byte>& stream) {
        protocol::Reader in(stream.data(), stream.size(), fatal);
        protocol::Decoder d{in, arena, &objects};
        while (!in.empty()) {
            const DecodeResult r = gen::dispatch_command(executor, d);
            arena.reset();
            VN_TRY(r);
        }
        return DecodeResult::Ok;
    }
};

constexpr std::uint64_t instance_id = 0x7f0000001000;
constexpr std::uint64_t physical_device_id = 0x7f0000002000;

void create_instance(Renderer& r) {
    const char* extensions[] = {"VK_EXT_command_serialization", "VK_MESA_venus_protocol"};
    VkApplicationInfo app{
        VK_STRUCTURE_TYPE_APPLICATION_INFO, nullptr, "test", 1, "venus", 1, VK_API_VERSION_1_3};
    VkInstanceCreateInfo info{
        VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, nullptr, 0, &app, 0, nullptr, 2, extensions};
    VkInstance instance = id<VkInstance>(instance_id);
    gen::CreateInstanceArgs a;
    a.pCreateInfo = &info;
    a.pInstance = &instance;
    gen::CreateInstanceArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    CHECK(protocol::handle_to_u64(*reply.pInstance) == instance_id);
}

std::uint32_t enumerate_physical_devices(Renderer& r) {
    std::uint32_t count = 0;
    gen::EnumeratePhysicalDevicesArgs a;
    a.instance = {instance_id, id<VkInstance>(instance_id)};
    a.pPhysicalDeviceCount = &count;
    gen::EnumeratePhysicalDevicesArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret == VK_SUCCESS);
    REQUIRE(*reply.pPhysicalDeviceCount >= 1);

    count = 1;
    VkPhysicalDevice pd = id<VkPhysicalDevice>(physical_device_id);
    a.pPhysicalDevices = &pd;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    REQUIRE(reply.ret >= 0);
    REQUIRE(*reply.pPhysicalDeviceCount == 1);
    CHECK(protocol::handle_to_u64(reply.pPhysicalDevices[0]) == physical_device_id);
    return count;
}

} // namespace

TEST_CASE("instance version and the Venus instance extensions") {
    Renderer r;
    std::uint32_t version = 0;
    gen::EnumerateInstanceVersionArgs a;
    a.pApiVersion = &version;
    gen::EnumerateInstanceVersionArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    CHECK(*reply.pApiVersion >= VK_API_VERSION_1_1);
    CHECK(*reply.pApiVersion <= decoder::Executor::max_api_version);

    std::uint32_t count = 8;
    VkExtensionProperties props[8]{};
    gen::EnumerateInstanceExtensionPropertiesArgs e;
    e.pPropertyCount = &count;
    e.pProperties = props;
    gen::EnumerateInstanceExtensionPropertiesArgs ereply;
    REQUIRE(r.call(e, ereply) == DecodeResult::Ok);
    REQUIRE(*ereply.pPropertyCount == 2);
    CHECK(std::string(ereply.pProperties[0].extensionName) == "VK_EXT_command_serialization");
    CHECK(std::string(ereply.pProperties[1].extensionName) == "VK_MESA_venus_protocol");
    CHECK(ereply.pProperties[1].specVersion == 3);
}

TEST_CASE("lavapipe through Venus: instance, physical device, properties with a pNext chain") {
    Renderer r;
    create_instance(r);
    enumerate_physical_devices(r);

    VkPhysicalDeviceDriverProperties driver{};
    driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    VkPhysicalDeviceProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    props.pNext = &driver;
    gen::GetPhysicalDeviceProperties2Args a;
    a.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    a.pProperties = &props;
    gen::GetPhysicalDeviceProperties2Args reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    const VkPhysicalDeviceProperties& p = reply.pProperties->properties;
    INFO("device " << p.deviceName);
    CHECK(std::string(p.deviceName).find("llvmpipe") != std::string::npos);
    CHECK(p.apiVersion <= decoder::Executor::max_api_version);
    REQUIRE(reply.pProperties->pNext);
    const auto* d = static_cast<const VkPhysicalDeviceDriverProperties*>(reply.pProperties->pNext);
    CHECK(d->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES);
    CHECK(d->driverID == VK_DRIVER_ID_MESA_LLVMPIPE);

    std::uint32_t families = 0;
    gen::GetPhysicalDeviceQueueFamilyProperties2Args q;
    q.physicalDevice = a.physicalDevice;
    q.pQueueFamilyPropertyCount = &families;
    gen::GetPhysicalDeviceQueueFamilyProperties2Args qreply;
    REQUIRE(r.call(q, qreply) == DecodeResult::Ok);
    CHECK(*qreply.pQueueFamilyPropertyCount >= 1);

    VkPhysicalDeviceMemoryProperties2 mem{};
    mem.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
    gen::GetPhysicalDeviceMemoryProperties2Args m;
    m.physicalDevice = a.physicalDevice;
    m.pMemoryProperties = &mem;
    gen::GetPhysicalDeviceMemoryProperties2Args mreply;
    REQUIRE(r.call(m, mreply) == DecodeResult::Ok);
    CHECK(mreply.pMemoryProperties->memoryProperties.memoryTypeCount >= 1);
}

TEST_CASE("device extensions are the host's, filtered by what Venus can encode") {
    Renderer r;
    create_instance(r);
    enumerate_physical_devices(r);
    std::uint32_t count = 0;
    gen::EnumerateDeviceExtensionPropertiesArgs a;
    a.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    a.pPropertyCount = &count;
    gen::EnumerateDeviceExtensionPropertiesArgs reply;
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    const std::uint32_t n = *reply.pPropertyCount;
    REQUIRE(n > 10);
    std::vector<VkExtensionProperties> props(n);
    count = n;
    a.pProperties = props.data();
    REQUIRE(r.call(a, reply) == DecodeResult::Ok);
    bool has_sync2 = false;
    for (std::uint32_t i = 0; i < *reply.pPropertyCount; ++i) {
        const char* name = reply.pProperties[i].extensionName;
        CHECK(gen::extension_spec_version(name) != 0);
        CHECK(std::string(name) != "VK_KHR_swapchain"); // WSI never crosses Venus
        has_sync2 |= std::string(name) == "VK_KHR_synchronization2";
    }
    CHECK(has_sync2);
}

TEST_CASE("a physical device id used as another type is fatal before the driver") {
    Renderer r;
    create_instance(r);
    enumerate_physical_devices(r);
    VkPhysicalDeviceProperties2 props{};
    props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    gen::GetPhysicalDeviceProperties2Args a;
    a.physicalDevice = {instance_id, id<VkPhysicalDevice>(instance_id)}; // an instance id
    a.pProperties = &props;
    std::vector<std::byte> stream;
    protocol::Writer w(stream);
    gen::encode_args(w, VK_COMMAND_GENERATE_REPLY_BIT_EXT, a);
    CHECK(r.submit(stream) == DecodeResult::Fatal);
    CHECK(r.fatal.reason().find("VkInstance") != std::string::npos);
}
