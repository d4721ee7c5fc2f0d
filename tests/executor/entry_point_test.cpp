// Commands promoted to core travel under one id whatever name the guest used, and the host driver
// resolves only the names its device was created for: on a Vulkan 1.2 device "vkCmdSetStencilOp"
// is NULL while "vkCmdSetStencilOpEXT" works. These tests hold the executor to the rule that a
// device's table is filled through exactly those names, and that no command reaches a null entry.
#include "device_objects.h"
#include "vn_fill.gen.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using namespace vn;
using namespace vn::test_guest;
using protocol::DecodeResult;

namespace {

constexpr std::uint64_t pool_id = 0x7f0000105000;
constexpr std::uint64_t cb_id = 0x7f0000106000;

const gen::DeviceDispatch& dispatch_of(Context& r) {
    auto* entry = r.objects.find<VkDevice>(device_id);
    REQUIRE(entry);
    return static_cast<const decoder::DeviceState*>(entry->state.get())->dispatch;
}

// The host's device extensions, so the test enables only what lavapipe has.
std::vector<std::string> host_extensions() {
    Context r;
    create_instance(r);
    enumerate_physical_devices(r);
    std::uint32_t count = 0;
    gen::EnumerateDeviceExtensionPropertiesArgs a;
    a.physicalDevice = {physical_device_id, id<VkPhysicalDevice>(physical_device_id)};
    a.pPropertyCount = &count;
    auto reply = r.call(a);
    std::vector<VkExtensionProperties> props(*reply.pPropertyCount);
    count = static_cast<std::uint32_t>(props.size());
    a.pProperties = props.data();
    reply = r.call(a);
    std::vector<std::string> out;
    for (std::uint32_t i = 0; i < *reply.pPropertyCount; ++i)
        out.emplace_back(reply.pProperties[i].extensionName);
    return out;
}

bool provided_by(gen::CommandType type, const std::vector<const char*>& enabled,
                 std::uint32_t api) {
    for (const auto& p : gen::entry_providers(type)) {
        if (p.version && api >= p.version)
            return true;
        if (p.extension && std::any_of(enabled.begin(), enabled.end(), [&](const char* e) {
                return std::strcmp(e, p.extension) == 0;
            }))
            return true;
    }
    return false;
}

} // namespace

TEST_CASE("a Vulkan 1.2 device runs commands promoted to 1.3 through their extension names") {
    const std::vector<std::string> host = host_extensions();
    std::vector<const char*> enabled;
    for (const char* want : {"VK_EXT_extended_dynamic_state", "VK_EXT_extended_dynamic_state2",
                             "VK_KHR_copy_commands2", "VK_KHR_dynamic_rendering",
                             "VK_KHR_synchronization2", "VK_KHR_maintenance4"})
        if (std::find(host.begin(), host.end(), want) != host.end())
            enabled.push_back(want);
    REQUIRE(enabled.size() >= 3); // lavapipe has them all

    VkPhysicalDeviceExtendedDynamicStateFeaturesEXT eds{};
    eds.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTENDED_DYNAMIC_STATE_FEATURES_EXT;
    eds.extendedDynamicState = VK_TRUE;
    Context r;
    const auto dev = create_device(r, &eds, enabled, VK_API_VERSION_1_2);

    // Every device command that an enabled extension or the device's version provides is
    // loaded; every other one is not, whatever the driver itself could resolve.
    const gen::DeviceDispatch& dd = dispatch_of(r);
    int loaded = 0, absent = 0;
    for (std::uint32_t t = 0; t < gen::command_type_count; ++t) {
        const auto type = static_cast<gen::CommandType>(t);
        if (!gen::device_entry(type))
            continue;
        const bool want = provided_by(type, enabled, VK_API_VERSION_1_2);
        INFO(gen::command_name(t));
        if (want) {
            // A provider may still be missing in the driver (an extension it lacks is never
            // enabled here, so that only happens for commands of other levels).
            if (gen::entry_present(dd, type))
                ++loaded;
        } else {
            CHECK_FALSE(gen::entry_present(dd, type));
            ++absent;
        }
    }
    CHECK(gen::entry_present(dd, gen::CommandType::CmdSetStencilOp));
    CHECK(gen::entry_present(dd, gen::CommandType::CmdCopyBuffer2));
    WARN("1.2 device with " << enabled.size() << " extensions: " << loaded << " entries loaded, "
                            << absent << " left out");

    // And they run: recorded through the ids Mesa sends for the EXT/KHR names.
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);
    gen::CmdSetStencilOpArgs op;
    op.commandBuffer = cbr;
    op.faceMask = VK_STENCIL_FACE_FRONT_AND_BACK;
    op.failOp = VK_STENCIL_OP_KEEP;
    op.passOp = VK_STENCIL_OP_REPLACE;
    op.depthFailOp = VK_STENCIL_OP_KEEP;
    op.compareOp = VK_COMPARE_OP_ALWAYS;
    send(r, op);
    gen::CmdSetCullModeArgs cull;
    cull.commandBuffer = cbr;
    cull.cullMode = VK_CULL_MODE_BACK_BIT;
    send(r, cull);

    constexpr std::uint64_t src_id = 0x7f0000110000, src_mem = 0x7f0000111000;
    constexpr std::uint64_t dst_id = 0x7f0000112000, dst_mem = 0x7f0000113000;
    const auto src =
        create_bound_buffer(r, dev, src_id, src_mem, 4096, VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
    const auto dst =
        create_bound_buffer(r, dev, dst_id, dst_mem, 4096, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    VkBufferCopy2 region{};
    region.sType = VK_STRUCTURE_TYPE_BUFFER_COPY_2;
    region.size = 4096;
    VkCopyBufferInfo2 copy{};
    copy.sType = VK_STRUCTURE_TYPE_COPY_BUFFER_INFO_2;
    copy.srcBuffer = src.buffer.handle;
    copy.dstBuffer = dst.buffer.handle;
    copy.regionCount = 1;
    copy.pRegions = &region;
    gen::CmdCopyBuffer2Args c2;
    c2.commandBuffer = cbr;
    c2.pCopyBufferInfo = &copy;
    send(r, c2);
    CHECK_FALSE(r.is_fatal());
}

TEST_CASE("a command the guest did not enable ends the context with what it needs") {
    Context r;
    const auto dev = create_device(r, nullptr, {}, VK_API_VERSION_1_2);
    const auto cbr = begin_commands(r, dev, pool_id, cb_id);
    gen::CmdSetStencilOpArgs op;
    op.commandBuffer = cbr;
    op.faceMask = VK_STENCIL_FACE_FRONT_AND_BACK;
    CHECK(r.send(op) == DecodeResult::Fatal);
    const std::string reason = r.reason();
    INFO(reason);
    CHECK(reason.find("vkCmdSetStencilOp is not enabled on this device") != std::string::npos);
    CHECK(reason.find("Vulkan 1.3 or VK_EXT_extended_dynamic_state") != std::string::npos);
}

namespace {

struct Owners {
    protocol::Ref<VkDevice> device;
    protocol::Ref<VkQueue> queue;
    protocol::Ref<VkCommandBuffer> cb;
};
void own(protocol::Ref<VkDevice>& r, const Owners& o) {
    r = o.device;
}
void own(protocol::Ref<VkQueue>& r, const Owners& o) {
    r = o.queue;
}
void own(protocol::Ref<VkCommandBuffer>& r, const Owners& o) {
    r = o.cb;
}
template <typename H>
void own(protocol::Ref<H>&, const Owners&) {}

struct Tally {
    std::vector<bool> absent; // by command type, on a 1.1 device without extensions
    int checked = 0;
    int refused_at_entry = 0;
};

// Every device-level command whose entry a Vulkan 1.1 device without extensions lacks, with
// random arguments around a real device, queue or command buffer: never a crash, always fatal.
template <typename Args>
void send_without_entry(Tally& tally, std::uint32_t id) {
    Args a{};
    if constexpr (requires { gen::entry_owner(a); }) {
        if (!tally.absent[id])
            return;
        Context r;
        const auto dev = create_device(r, nullptr, {}, VK_API_VERSION_1_1);
        const Owners owners{dev, get_queue(r, dev),
                            allocate_command_buffer(r, dev, pool_id, cb_id)};
        protocol::Arena arena;
        test::Filler fill(id, arena);
        gen::fill_args(fill, a);
        own(gen::entry_owner(a), owners);
        INFO(Args::vn_name);
        CHECK(r.send(a) == DecodeResult::Fatal);
        ++tally.checked;
        if (r.reason().find("is not enabled on this device") != std::string::npos)
            ++tally.refused_at_entry;
    }
}

} // namespace

TEST_CASE("no command reaches an entry point its device does not have") {
    Tally tally;
    {
        Context r;
        create_device(r, nullptr, {}, VK_API_VERSION_1_1);
        for (std::uint32_t t = 0; t < gen::command_type_count; ++t)
            tally.absent.push_back(
                gen::device_entry(static_cast<gen::CommandType>(t)) &&
                !gen::entry_present(dispatch_of(r), static_cast<gen::CommandType>(t)));
    }
#define VN_SEND_WITHOUT_ENTRY(name, id) send_without_entry<gen::name##Args>(tally, id);
    VN_GEN_FOR_EACH_COMMAND(VN_SEND_WITHOUT_ENTRY)
#undef VN_SEND_WITHOUT_ENTRY
    // Random handles elsewhere in the arguments end some contexts before the entry check (an
    // unknown id); most reach it.
    CHECK(tally.checked > 50);
    CHECK(tally.refused_at_entry > tally.checked / 3);
    WARN(tally.checked << " commands without an entry on a 1.1 device: all fatal, "
                       << tally.refused_at_entry << " refused at the entry check");
}
