#pragma once
// Every Vulkan handle type a guest can name by object id, as (C type, VkObjectType) pairs. This
// list is the seam for the code generator: it will emit the same X-macro from vk.xml, and nothing
// else in the object tables names a handle type. Until then: core 1.0-1.3 plus the extension
// handles of the extensions Venus advertises.
#include <vulkan/vulkan_core.h>

// On 32-bit hosts every non-dispatchable handle is a plain uint64_t, so the C type could not tell
// a VkBuffer table from a VkImage table.
static_assert(VK_USE_64_BIT_PTR_DEFINES == 1,
              "typed object tables need distinct Vulkan handle types (a 64-bit host)");

#define VN_DECODER_FOR_EACH_HANDLE(X)                                                              \
    X(VkInstance, VK_OBJECT_TYPE_INSTANCE)                                                         \
    X(VkPhysicalDevice, VK_OBJECT_TYPE_PHYSICAL_DEVICE)                                            \
    X(VkDevice, VK_OBJECT_TYPE_DEVICE)                                                             \
    X(VkQueue, VK_OBJECT_TYPE_QUEUE)                                                               \
    X(VkSemaphore, VK_OBJECT_TYPE_SEMAPHORE)                                                       \
    X(VkCommandBuffer, VK_OBJECT_TYPE_COMMAND_BUFFER)                                              \
    X(VkFence, VK_OBJECT_TYPE_FENCE)                                                               \
    X(VkDeviceMemory, VK_OBJECT_TYPE_DEVICE_MEMORY)                                                \
    X(VkBuffer, VK_OBJECT_TYPE_BUFFER)                                                             \
    X(VkImage, VK_OBJECT_TYPE_IMAGE)                                                               \
    X(VkEvent, VK_OBJECT_TYPE_EVENT)                                                               \
    X(VkQueryPool, VK_OBJECT_TYPE_QUERY_POOL)                                                      \
    X(VkBufferView, VK_OBJECT_TYPE_BUFFER_VIEW)                                                    \
    X(VkImageView, VK_OBJECT_TYPE_IMAGE_VIEW)                                                      \
    X(VkShaderModule, VK_OBJECT_TYPE_SHADER_MODULE)                                                \
    X(VkPipelineCache, VK_OBJECT_TYPE_PIPELINE_CACHE)                                              \
    X(VkPipelineLayout, VK_OBJECT_TYPE_PIPELINE_LAYOUT)                                            \
    X(VkRenderPass, VK_OBJECT_TYPE_RENDER_PASS)                                                    \
    X(VkPipeline, VK_OBJECT_TYPE_PIPELINE)                                                         \
    X(VkDescriptorSetLayout, VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT)                                 \
    X(VkSampler, VK_OBJECT_TYPE_SAMPLER)                                                           \
    X(VkDescriptorPool, VK_OBJECT_TYPE_DESCRIPTOR_POOL)                                            \
    X(VkDescriptorSet, VK_OBJECT_TYPE_DESCRIPTOR_SET)                                              \
    X(VkFramebuffer, VK_OBJECT_TYPE_FRAMEBUFFER)                                                   \
    X(VkCommandPool, VK_OBJECT_TYPE_COMMAND_POOL)                                                  \
    X(VkSamplerYcbcrConversion, VK_OBJECT_TYPE_SAMPLER_YCBCR_CONVERSION)                           \
    X(VkDescriptorUpdateTemplate, VK_OBJECT_TYPE_DESCRIPTOR_UPDATE_TEMPLATE)                       \
    X(VkPrivateDataSlot, VK_OBJECT_TYPE_PRIVATE_DATA_SLOT)                                         \
    X(VkAccelerationStructureKHR, VK_OBJECT_TYPE_ACCELERATION_STRUCTURE_KHR)                       \
    X(VkDeferredOperationKHR, VK_OBJECT_TYPE_DEFERRED_OPERATION_KHR)
