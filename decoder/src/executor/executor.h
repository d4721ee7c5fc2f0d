#pragma once
// The executor: Venus commands run on the host Vulkan driver. Each hand-written handler receives
// decoded, resolved arguments (guest ids already mapped to host handles) and records the objects
// it creates in the context's tables. Files are split by object family, as in virglrenderer's
// vkr_*.c and Mesa's vn_*.c. Commands without a handler yet are fatal ("not implemented").
#include "vn/decoder/object_table.h"
#include "vn/decoder/resources.h"
#include "vn_dispatch.gen.h"
#include "vn_passthrough.gen.h"
#include "vn_vulkan.gen.h"

#include <optional>
#include <unordered_map>

namespace vn::decoder {

// What a context knows about a VkInstance: its entry points.
class InstanceState final : public ObjectState {
  public:
    gen::InstanceDispatch dispatch;
    std::uint32_t api_version = 0;
};

// What a context knows about a VkPhysicalDevice: the instance it came from.
class PhysicalDeviceState final : public ObjectState {
  public:
    explicit PhysicalDeviceState(const InstanceState& i) : instance(&i) {}
    const InstanceState* instance;
};

// What a context knows about a VkDevice: its entry points, and every object created from it, so
// that destroying the device (or the context) destroys them first and no id outlives its host
// object.
class DeviceState final : public ObjectState {
  public:
    gen::DeviceDispatch dispatch;
    VkPhysicalDeviceMemoryProperties memory{};
    // Non-zero when VK_EXT_external_memory_host is enabled: host-visible memory is then ours.
    VkDeviceSize host_import_alignment = 0;
    // Host-only entry point (the protocol does not carry VK_EXT_external_memory_host).
    PFN_vkGetMemoryHostPointerPropertiesEXT get_host_pointer_properties = nullptr;
    const InstanceState* instance = nullptr;
    std::unordered_map<std::uint64_t, VkObjectType> children;
    // Allocation size of each live memory object by host handle: binds and other uses name
    // memory inside structs, where only the host handle is left after decoding.
    std::unordered_map<VkDeviceMemory, VkDeviceSize> memory_sizes;
};

// Queues, command pools, command buffers and other device children: the device they belong to.
class DeviceChildState final : public ObjectState {
  public:
    explicit DeviceChildState(DeviceState& d, std::uint64_t owner_pool = 0)
        : device(&d), pool(owner_pool) {}
    DeviceState* device;
    std::uint64_t pool;         // command buffers: the pool they were allocated from
    std::uint32_t ring_idx = 0; // queues: the fence timeline bound by VkDeviceQueueTimelineInfoMESA
};

// A guest-mappable blob of device memory: a duplicate of the memfd behind it, which the caller
// owns, and the mappable size.
struct MemoryExport {
    int fd;
    std::size_t size;
};

class Executor final : public gen::PassthroughHandler {
  public:
    // The newest Vulkan version the codec and the executor implement; the host's is capped to it.
    static constexpr std::uint32_t max_api_version = VK_API_VERSION_1_3;
    // A host version with its major.minor capped at max_api_version. The patch level stays the
    // host's, so the guest sees what virglrenderer reports (vkr_api_version_cap_minor).
    static constexpr std::uint32_t cap_api_version(std::uint32_t version) {
        const std::uint32_t without_patch = version - VK_API_VERSION_PATCH(version);
        if (without_patch <= max_api_version)
            return version;
        return max_api_version + VK_API_VERSION_PATCH(version);
    }

    explicit Executor(ObjectTables& objects);
    // A context that ends (or dies) takes its host objects with it: devices with every child,
    // then instances.
    ~Executor() override;
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    // Replies go to `w` until it is replaced (or a reply stream is set); without one, a reply
    // request is fatal.
    void set_reply_writer(protocol::Writer* w) { m_reply = w; }
    // Shared memory for reply streams and executed command streams.
    void set_resources(ResourceProvider* resources) { m_resources = resources; }

    protocol::DecodeResult begin_reply(protocol::Decoder& d, protocol::Writer*& out) override;
    protocol::DecodeResult end_reply(protocol::Decoder& d, protocol::Writer& w) override;

    // transport.cpp: the Venus private commands that move bytes rather than call Vulkan
    protocol::DecodeResult
    on_vkSetReplyCommandStreamMESA(protocol::Decoder& d,
                                   gen::SetReplyCommandStreamMESAArgs& a) override;
    protocol::DecodeResult
    on_vkSeekReplyCommandStreamMESA(protocol::Decoder& d,
                                    gen::SeekReplyCommandStreamMESAArgs& a) override;
    protocol::DecodeResult
    on_vkExecuteCommandStreamsMESA(protocol::Decoder& d,
                                   gen::ExecuteCommandStreamsMESAArgs& a) override;

    // instance.cpp
    protocol::DecodeResult
    on_vkEnumerateInstanceVersion(protocol::Decoder& d,
                                  gen::EnumerateInstanceVersionArgs& a) override;
    protocol::DecodeResult on_vkEnumerateInstanceExtensionProperties(
        protocol::Decoder& d, gen::EnumerateInstanceExtensionPropertiesArgs& a) override;
    protocol::DecodeResult on_vkCreateInstance(protocol::Decoder& d,
                                               gen::CreateInstanceArgs& a) override;
    protocol::DecodeResult on_vkDestroyInstance(protocol::Decoder& d,
                                                gen::DestroyInstanceArgs& a) override;
    protocol::DecodeResult
    on_vkEnumeratePhysicalDevices(protocol::Decoder& d,
                                  gen::EnumeratePhysicalDevicesArgs& a) override;

    // physical_device.cpp
    protocol::DecodeResult
    on_vkGetPhysicalDeviceProperties(protocol::Decoder& d,
                                     gen::GetPhysicalDevicePropertiesArgs& a) override;
    protocol::DecodeResult
    on_vkGetPhysicalDeviceProperties2(protocol::Decoder& d,
                                      gen::GetPhysicalDeviceProperties2Args& a) override;
    protocol::DecodeResult
    on_vkGetPhysicalDeviceFeatures2(protocol::Decoder& d,
                                    gen::GetPhysicalDeviceFeatures2Args& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceQueueFamilyProperties2(
        protocol::Decoder& d, gen::GetPhysicalDeviceQueueFamilyProperties2Args& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceMemoryProperties2(
        protocol::Decoder& d, gen::GetPhysicalDeviceMemoryProperties2Args& a) override;
    protocol::DecodeResult on_vkGetPhysicalDeviceFormatProperties2(
        protocol::Decoder& d, gen::GetPhysicalDeviceFormatProperties2Args& a) override;
    protocol::DecodeResult on_vkEnumerateDeviceExtensionProperties(
        protocol::Decoder& d, gen::EnumerateDeviceExtensionPropertiesArgs& a) override;

    // device.cpp
    protocol::DecodeResult on_vkCreateDevice(protocol::Decoder& d,
                                             gen::CreateDeviceArgs& a) override;
    protocol::DecodeResult on_vkDestroyDevice(protocol::Decoder& d,
                                              gen::DestroyDeviceArgs& a) override;
    protocol::DecodeResult on_vkGetDeviceQueue2(protocol::Decoder& d,
                                                gen::GetDeviceQueue2Args& a) override;
    protocol::DecodeResult on_vkDeviceWaitIdle(protocol::Decoder& d,
                                               gen::DeviceWaitIdleArgs& a) override;

    // command_buffer.cpp
    protocol::DecodeResult on_vkCreateCommandPool(protocol::Decoder& d,
                                                  gen::CreateCommandPoolArgs& a) override;
    protocol::DecodeResult on_vkDestroyCommandPool(protocol::Decoder& d,
                                                   gen::DestroyCommandPoolArgs& a) override;
    protocol::DecodeResult on_vkAllocateCommandBuffers(protocol::Decoder& d,
                                                       gen::AllocateCommandBuffersArgs& a) override;
    protocol::DecodeResult on_vkFreeCommandBuffers(protocol::Decoder& d,
                                                   gen::FreeCommandBuffersArgs& a) override;
    protocol::DecodeResult on_vkBeginCommandBuffer(protocol::Decoder& d,
                                                   gen::BeginCommandBufferArgs& a) override;
    protocol::DecodeResult on_vkEndCommandBuffer(protocol::Decoder& d,
                                                 gen::EndCommandBufferArgs& a) override;
    protocol::DecodeResult command_buffer_dispatch(protocol::Decoder& d,
                                                   const protocol::Ref<VkCommandBuffer>& cb,
                                                   const gen::DeviceDispatch*& out) override;

    // device.cpp: plain device children, created and destroyed by generated handlers
    protocol::DecodeResult device_entry(protocol::Decoder& d, const protocol::Ref<VkDevice>& device,
                                        const gen::DeviceDispatch*& out) override;
    protocol::DecodeResult new_device_child(protocol::Decoder& d, std::uint64_t id) override;
    protocol::DecodeResult device_child_created(protocol::Decoder& d,
                                                const protocol::Ref<VkDevice>& device,
                                                VkObjectType type, std::uint64_t id,
                                                std::uint64_t host) override;
    protocol::DecodeResult check_device_child(protocol::Decoder& d,
                                              const protocol::Ref<VkDevice>& device,
                                              VkObjectType type, std::uint64_t id) override;
    protocol::DecodeResult device_child_destroyed(protocol::Decoder& d,
                                                  const protocol::Ref<VkDevice>& device,
                                                  VkObjectType type, std::uint64_t id) override;

    // memory.cpp
    protocol::DecodeResult on_vkAllocateMemory(protocol::Decoder& d,
                                               gen::AllocateMemoryArgs& a) override;
    protocol::DecodeResult on_vkFreeMemory(protocol::Decoder& d, gen::FreeMemoryArgs& a) override;
    protocol::DecodeResult
    on_vkGetBufferMemoryRequirements2(protocol::Decoder& d,
                                      gen::GetBufferMemoryRequirements2Args& a) override;
    protocol::DecodeResult on_vkBindBufferMemory2(protocol::Decoder& d,
                                                  gen::BindBufferMemory2Args& a) override;
    // The memfd behind a memory object, for a blob resource; nullopt when the memory is not ours
    // to hand out (not host-visible, or the driver could not import host memory).
    std::optional<MemoryExport> export_memory(std::uint64_t memory_id);

    // descriptor.cpp
    protocol::DecodeResult on_vkAllocateDescriptorSets(protocol::Decoder& d,
                                                       gen::AllocateDescriptorSetsArgs& a) override;
    protocol::DecodeResult on_vkFreeDescriptorSets(protocol::Decoder& d,
                                                   gen::FreeDescriptorSetsArgs& a) override;
    protocol::DecodeResult on_vkResetDescriptorPool(protocol::Decoder& d,
                                                    gen::ResetDescriptorPoolArgs& a) override;
    protocol::DecodeResult on_vkDestroyDescriptorPool(protocol::Decoder& d,
                                                      gen::DestroyDescriptorPoolArgs& a) override;
    protocol::DecodeResult on_vkUpdateDescriptorSets(protocol::Decoder& d,
                                                     gen::UpdateDescriptorSetsArgs& a) override;
    protocol::DecodeResult on_vkCreateComputePipelines(protocol::Decoder& d,
                                                       gen::CreateComputePipelinesArgs& a) override;

    // sync.cpp
    protocol::DecodeResult on_vkGetFenceStatus(protocol::Decoder& d,
                                               gen::GetFenceStatusArgs& a) override;
    protocol::DecodeResult on_vkWaitForFences(protocol::Decoder& d,
                                              gen::WaitForFencesArgs& a) override;
    protocol::DecodeResult on_vkResetFences(protocol::Decoder& d, gen::ResetFencesArgs& a) override;
    protocol::DecodeResult on_vkQueueSubmit2(protocol::Decoder& d,
                                             gen::QueueSubmit2Args& a) override;
    protocol::DecodeResult on_vkQueueWaitIdle(protocol::Decoder& d,
                                              gen::QueueWaitIdleArgs& a) override;
    protocol::DecodeResult on_vkQueueSubmit(protocol::Decoder& d, gen::QueueSubmitArgs& a) override;

  private:
    protocol::DecodeResult device_of(protocol::Decoder& d, std::uint64_t device_id,
                                     DeviceState*& out);
    protocol::DecodeResult queue_device(protocol::Decoder& d, std::uint64_t queue_id,
                                        DeviceState*& out);
    protocol::DecodeResult check_new_ids(protocol::Decoder& d, const std::uint64_t* ids,
                                         std::uint32_t n);
    protocol::DecodeResult forget_pool_sets(DeviceState& dev, std::uint64_t pool_id);
    // A new device child: the id must be free; it is recorded once the host object exists.
    protocol::DecodeResult check_new_id(protocol::Decoder& d, std::uint64_t id);
    template <typename H>
    protocol::DecodeResult add_child(DeviceState& dev, std::uint64_t id, H host,
                                     std::uint64_t pool = 0) {
        VN_TRY(m_objects.add<H>(id, host, std::make_unique<DeviceChildState>(dev, pool)));
        dev.children.emplace(id, HandleTraits<H>::object_type);
        return protocol::DecodeResult::Ok;
    }
    template <typename H>
    protocol::DecodeResult remove_child(DeviceState& dev, std::uint64_t id) {
        dev.children.erase(id);
        return m_objects.remove<H>(id);
    }
    // Destroys what the guest left behind on the host, then forgets it.
    void destroy_children(DeviceState& dev, VkDevice host);

    protocol::DecodeResult instance_of(protocol::Decoder& d, std::uint64_t physical_device_id,
                                       const InstanceState*& out);

    // A [offset, offset + size) window of a shm resource; Fatal when it is not inside one.
    protocol::DecodeResult shm_window(protocol::Decoder& d, std::uint32_t resource_id,
                                      std::size_t offset, std::size_t size, ShmRegion& out);

    ObjectTables& m_objects;
    gen::GlobalDispatch m_global;
    protocol::Writer* m_reply = nullptr;
    ResourceProvider* m_resources = nullptr;
    // The reply stream set by vkSetReplyCommandStreamMESA, and the writer at its position.
    ShmRegion m_reply_stream;
    protocol::Writer m_stream_writer{nullptr, 0};
    // Executed streams nest only one level deep; their commands get an arena of their own, so
    // that the executing command's arguments survive each nested command's reset.
    bool m_executing_streams = false;
    protocol::Arena m_nested_arena;
};

} // namespace vn::decoder
