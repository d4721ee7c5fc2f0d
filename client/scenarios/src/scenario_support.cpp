#include "vn/scenarios/scenario_support.h"

namespace vn::scenarios {

void expect_success(VkResult result, const char* what, bool allow_incomplete) {
    if (result == VK_SUCCESS || (allow_incomplete && result == VK_INCOMPLETE))
        return;
    throw Failure(std::string(what) + " returned VkResult " + std::to_string(result));
}

const void* find_in_chain(const void* chain, VkStructureType type) {
    for (auto* s = static_cast<const VkBaseInStructure*>(chain); s; s = s->pNext)
        if (s->sType == type)
            return s;
    return nullptr;
}

} // namespace vn::scenarios
