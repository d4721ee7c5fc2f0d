// Render passes, framebuffers, and the commands that begin rendering. Drivers index a
// framebuffer's attachments by the render pass's attachment indices, render the whole render
// area into every attachment, and read one clear value per cleared attachment; none of that is
// checked by them. So a render pass keeps its attachment count, cleared attachments and views,
// an image view the extent and layers it can take, a framebuffer its size, and every begin is
// checked against them.
#include "executor.h"

#include <algorithm>
#include <bit>

namespace vn::decoder {

using protocol::DecodeResult;

namespace {

std::uint32_t views_of(std::uint32_t view_mask) {
    return view_mask ? static_cast<std::uint32_t>(std::bit_width(view_mask)) : 1;
}

bool attachment_ok(std::uint32_t index, std::uint32_t count) {
    return index == VK_ATTACHMENT_UNUSED || index < count;
}

template <typename Ref>
bool references_ok(const Ref* refs, std::uint32_t n, std::uint32_t count) {
    if (!refs)
        return true;
    for (std::uint32_t i = 0; i < n; ++i)
        if (!attachment_ok(refs[i].attachment, count))
            return false;
    return true;
}

// Every attachment index a subpass names is an attachment of the pass.
template <typename Subpass>
bool subpass_ok(const Subpass& s, std::uint32_t count) {
    if (!references_ok(s.pInputAttachments, s.inputAttachmentCount, count) ||
        !references_ok(s.pColorAttachments, s.colorAttachmentCount, count) ||
        !references_ok(s.pResolveAttachments, s.colorAttachmentCount, count) ||
        !references_ok(s.pDepthStencilAttachment, 1, count))
        return false;
    for (std::uint32_t i = 0; i < s.preserveAttachmentCount && s.pPreserveAttachments; ++i)
        if (!attachment_ok(s.pPreserveAttachments[i], count))
            return false;
    return true;
}

template <typename Dependency>
bool dependencies_ok(const Dependency* deps, std::uint32_t n, std::uint32_t subpasses) {
    for (std::uint32_t i = 0; i < n; ++i)
        if ((deps[i].srcSubpass != VK_SUBPASS_EXTERNAL && deps[i].srcSubpass >= subpasses) ||
            (deps[i].dstSubpass != VK_SUBPASS_EXTERNAL && deps[i].dstSubpass >= subpasses))
            return false;
    return true;
}

template <typename Attachment>
std::uint32_t clear_values_needed(const Attachment* attachments, std::uint32_t n) {
    std::uint32_t needed = 0;
    for (std::uint32_t i = 0; i < n; ++i)
        if (attachments[i].loadOp == VK_ATTACHMENT_LOAD_OP_CLEAR ||
            attachments[i].stencilLoadOp == VK_ATTACHMENT_LOAD_OP_CLEAR)
            needed = i + 1;
    return needed;
}

} // namespace

DecodeResult Executor::on_vkCreateRenderPass(protocol::Decoder& d, gen::CreateRenderPassArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pRenderPass);
    VN_TRY(check_new_id(d, id));
    const VkRenderPassCreateInfo& info = *a.pCreateInfo;
    RenderPassShape shape{info.attachmentCount,
                          clear_values_needed(info.pAttachments, info.attachmentCount), 1};
    bool ok = dependencies_ok(info.pDependencies, info.dependencyCount, info.subpassCount);
    for (std::uint32_t i = 0; i < info.subpassCount; ++i)
        ok &= subpass_ok(info.pSubpasses[i], info.attachmentCount);
    for (auto* n = static_cast<const VkBaseInStructure*>(info.pNext); n; n = n->pNext) {
        if (n->sType != VK_STRUCTURE_TYPE_RENDER_PASS_MULTIVIEW_CREATE_INFO)
            continue;
        const auto* mv = reinterpret_cast<const VkRenderPassMultiviewCreateInfo*>(n);
        ok &= mv->subpassCount == 0 || mv->subpassCount == info.subpassCount;
        for (std::uint32_t i = 0; i < mv->subpassCount && mv->pViewMasks; ++i)
            shape.views = std::max(shape.views, views_of(mv->pViewMasks[i]));
    }
    if (!ok)
        return d.in.fail("vkCreateRenderPass: an attachment or subpass index out of range");
    VkRenderPass host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateRenderPass(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkRenderPass>(*dev, id, host));
    dev->render_passes[host] = shape;
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCreateRenderPass2(protocol::Decoder& d, gen::CreateRenderPass2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pRenderPass);
    VN_TRY(check_new_id(d, id));
    const VkRenderPassCreateInfo2& info = *a.pCreateInfo;
    RenderPassShape shape{info.attachmentCount,
                          clear_values_needed(info.pAttachments, info.attachmentCount), 1};
    bool ok = dependencies_ok(info.pDependencies, info.dependencyCount, info.subpassCount);
    for (std::uint32_t i = 0; i < info.subpassCount; ++i) {
        const VkSubpassDescription2& s = info.pSubpasses[i];
        ok &= subpass_ok(s, info.attachmentCount);
        shape.views = std::max(shape.views, views_of(s.viewMask));
        for (auto* n = static_cast<const VkBaseInStructure*>(s.pNext); n; n = n->pNext)
            if (n->sType == VK_STRUCTURE_TYPE_SUBPASS_DESCRIPTION_DEPTH_STENCIL_RESOLVE)
                ok &= references_ok(
                    reinterpret_cast<const VkSubpassDescriptionDepthStencilResolve*>(n)
                        ->pDepthStencilResolveAttachment,
                    1, info.attachmentCount);
    }
    if (!ok)
        return d.in.fail("vkCreateRenderPass2: an attachment or subpass index out of range");
    VkRenderPass host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateRenderPass2(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkRenderPass>(*dev, id, host));
    dev->render_passes[host] = shape;
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyRenderPass(protocol::Decoder& d, gen::DestroyRenderPassArgs& a) {
    if (!a.renderPass.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_RENDER_PASS, a.renderPass.id));
    dev->dispatch.DestroyRenderPass(a.device.handle, a.renderPass.handle, nullptr);
    dev->render_passes.erase(a.renderPass.handle);
    return remove_child<VkRenderPass>(*dev, a.renderPass.id);
}

namespace {
// An attachment view covers `width` x `height` and `layers`.
bool view_covers(const DeviceState& dev, VkImageView view, std::uint64_t width,
                 std::uint64_t height, std::uint32_t layers) {
    const auto it = dev.views.find(view);
    return it != dev.views.end() && it->second.extent.width >= width &&
           it->second.extent.height >= height && it->second.layers >= layers;
}
} // namespace

DecodeResult Executor::on_vkCreateFramebuffer(protocol::Decoder& d, gen::CreateFramebufferArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    const std::uint64_t id = protocol::handle_to_u64(*a.pFramebuffer);
    VN_TRY(check_new_id(d, id));
    const VkFramebufferCreateInfo& info = *a.pCreateInfo;
    const auto rp = dev->render_passes.find(info.renderPass);
    if (rp == dev->render_passes.end())
        return d.in.fail("vkCreateFramebuffer: a render pass of another device");
    const VkPhysicalDeviceLimits& limits = dev->limits;
    if (info.attachmentCount != rp->second.attachments || info.width == 0 || info.height == 0 ||
        info.layers == 0 || info.width > limits.maxFramebufferWidth ||
        info.height > limits.maxFramebufferHeight || info.layers > limits.maxFramebufferLayers)
        return d.in.fail("vkCreateFramebuffer: " + std::to_string(info.attachmentCount) +
                         " attachments of " + std::to_string(info.width) + "x" +
                         std::to_string(info.height) + "x" + std::to_string(info.layers) +
                         " for a render pass of " + std::to_string(rp->second.attachments));
    const bool imageless = (info.flags & VK_FRAMEBUFFER_CREATE_IMAGELESS_BIT) != 0;
    // Imageless framebuffers get their views at vkCmdBeginRenderPass, where they are checked.
    const std::uint32_t layers = std::max(info.layers, rp->second.views);
    for (std::uint32_t i = 0; i < info.attachmentCount && !imageless; ++i)
        if (!view_covers(*dev, info.pAttachments[i], info.width, info.height, layers))
            return d.in.fail("vkCreateFramebuffer: attachment " + std::to_string(i) +
                             " is smaller than the framebuffer");
    VkFramebuffer host = VK_NULL_HANDLE;
    a.ret = dev->dispatch.CreateFramebuffer(a.device.handle, &info, nullptr, &host);
    if (a.ret != VK_SUCCESS)
        return DecodeResult::Ok;
    VN_TRY(add_child<VkFramebuffer>(*dev, id, host));
    dev->framebuffers[host] =
        FramebufferShape{info.width, info.height, info.layers, info.attachmentCount, imageless};
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkDestroyFramebuffer(protocol::Decoder& d,
                                               gen::DestroyFramebufferArgs& a) {
    if (!a.framebuffer.id)
        return DecodeResult::Ok;
    DeviceState* dev = nullptr;
    VN_TRY(device_of(d, a.device.id, dev));
    VN_TRY(check_device_child(d, a.device, VK_OBJECT_TYPE_FRAMEBUFFER, a.framebuffer.id));
    dev->dispatch.DestroyFramebuffer(a.device.handle, a.framebuffer.handle, nullptr);
    dev->framebuffers.erase(a.framebuffer.handle);
    return remove_child<VkFramebuffer>(*dev, a.framebuffer.id);
}

DecodeResult Executor::check_render_pass_begin(protocol::Decoder& d, const DeviceState& dev,
                                               const VkRenderPassBeginInfo& begin,
                                               const char* what) {
    const auto rp = dev.render_passes.find(begin.renderPass);
    const auto fb = dev.framebuffers.find(begin.framebuffer);
    if (rp == dev.render_passes.end() || fb == dev.framebuffers.end())
        return d.in.fail(std::string(what) + ": a render pass or framebuffer of another device");
    const FramebufferShape& f = fb->second;
    const VkRect2D& area = begin.renderArea;
    if (f.attachments != rp->second.attachments || area.offset.x < 0 || area.offset.y < 0 ||
        std::uint64_t{static_cast<std::uint32_t>(area.offset.x)} + area.extent.width > f.width ||
        std::uint64_t{static_cast<std::uint32_t>(area.offset.y)} + area.extent.height > f.height)
        return d.in.fail(std::string(what) + ": the render area or the attachments do not match "
                                             "the framebuffer");
    if (begin.clearValueCount < rp->second.clear_values ||
        (begin.clearValueCount && !begin.pClearValues))
        return d.in.fail(std::string(what) + ": " + std::to_string(begin.clearValueCount) +
                         " clear values for " + std::to_string(rp->second.clear_values) +
                         " cleared attachments");
    if (!f.imageless)
        return DecodeResult::Ok;
    const VkRenderPassAttachmentBeginInfo* views = nullptr;
    for (auto* n = static_cast<const VkBaseInStructure*>(begin.pNext); n; n = n->pNext)
        if (n->sType == VK_STRUCTURE_TYPE_RENDER_PASS_ATTACHMENT_BEGIN_INFO)
            views = reinterpret_cast<const VkRenderPassAttachmentBeginInfo*>(n);
    if (!views || views->attachmentCount != f.attachments)
        return d.in.fail(std::string(what) + ": an imageless framebuffer without its views");
    const std::uint32_t layers = std::max(f.layers, rp->second.views);
    for (std::uint32_t i = 0; i < views->attachmentCount; ++i)
        if (!view_covers(dev, views->pAttachments[i], f.width, f.height, layers))
            return d.in.fail(std::string(what) + ": attachment " + std::to_string(i) +
                             " is smaller than the framebuffer");
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBeginRenderPass(protocol::Decoder& d,
                                               gen::CmdBeginRenderPassArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_render_pass_begin(d, *dev, *a.pRenderPassBegin, "vkCmdBeginRenderPass"));
    record([=] {
        dev->dispatch.CmdBeginRenderPass(a.commandBuffer.handle, a.pRenderPassBegin, a.contents);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBeginRenderPass2(protocol::Decoder& d,
                                                gen::CmdBeginRenderPass2Args& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    VN_TRY(check_render_pass_begin(d, *dev, *a.pRenderPassBegin, "vkCmdBeginRenderPass2"));
    record([=] {
        dev->dispatch.CmdBeginRenderPass2(a.commandBuffer.handle, a.pRenderPassBegin,
                                          a.pSubpassBeginInfo);
    });
    return DecodeResult::Ok;
}

DecodeResult Executor::on_vkCmdBeginRendering(protocol::Decoder& d, gen::CmdBeginRenderingArgs& a) {
    DeviceState* dev = nullptr;
    VN_TRY(command_buffer_device(d, a.commandBuffer, dev));
    const VkRenderingInfo& info = *a.pRenderingInfo;
    const VkRect2D& area = info.renderArea;
    if (area.offset.x < 0 || area.offset.y < 0 ||
        info.colorAttachmentCount > dev->limits.maxColorAttachments)
        return d.in.fail("vkCmdBeginRendering: bad render area or attachment count");
    // Every attachment is rendered over the whole area, in every layer (or view).
    const std::uint64_t right =
        std::uint64_t{static_cast<std::uint32_t>(area.offset.x)} + area.extent.width;
    const std::uint64_t bottom =
        std::uint64_t{static_cast<std::uint32_t>(area.offset.y)} + area.extent.height;
    const std::uint32_t layers = info.viewMask ? views_of(info.viewMask) : info.layerCount;
    const auto covers = [&](const VkRenderingAttachmentInfo* at) {
        if (!at)
            return true;
        return (at->imageView == VK_NULL_HANDLE ||
                view_covers(*dev, at->imageView, right, bottom, layers)) &&
               (at->resolveMode == VK_RESOLVE_MODE_NONE || at->resolveImageView == VK_NULL_HANDLE ||
                view_covers(*dev, at->resolveImageView, right, bottom, layers));
    };
    bool ok = covers(info.pDepthAttachment) && covers(info.pStencilAttachment);
    for (std::uint32_t i = 0; i < info.colorAttachmentCount && info.pColorAttachments; ++i)
        ok &= covers(&info.pColorAttachments[i]);
    if (!ok)
        return d.in.fail("vkCmdBeginRendering: an attachment is smaller than the render area");
    record([=] { dev->dispatch.CmdBeginRendering(a.commandBuffer.handle, &info); });
    return DecodeResult::Ok;
}

} // namespace vn::decoder
