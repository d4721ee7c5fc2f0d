#pragma once
// The executor: Venus commands run on the host Vulkan driver. Each hand-written handler receives
// decoded, resolved arguments (guest ids already mapped to host handles) and records the objects
// it creates in the context's tables. Files are split by object family, as in virglrenderer's
// vkr_*.c and Mesa's vn_*.c. Commands without a handler yet are fatal ("not implemented").
#include "vn/decoder/object_table.h"
#include "vn_dispatch.gen.h"
#include "vn_vulkan.gen.h"

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

class Executor final : public gen::CommandHandler {
  public:
    // The newest Vulkan version the codec and the executor implement; the host's is capped to it.
    static constexpr std::uint32_t max_api_version = VK_API_VERSION_1_3;

    explicit Executor(ObjectTables& objects);

    // Replies go to `w` until it is replaced; without one, a reply request is fatal.
    void set_reply_writer(protocol::Writer* w) { m_reply = w; }

    protocol::DecodeResult begin_reply(protocol::Decoder& d, protocol::Writer*& out) override;
    protocol::DecodeResult end_reply(protocol::Decoder& d, protocol::Writer& w) override;

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

  private:
    protocol::DecodeResult instance_of(protocol::Decoder& d, std::uint64_t physical_device_id,
                                       const InstanceState*& out);

    ObjectTables& m_objects;
    gen::GlobalDispatch m_global;
    protocol::Writer* m_reply = nullptr;
};

} // namespace vn::decoder
