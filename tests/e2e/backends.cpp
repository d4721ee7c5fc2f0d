#include "backends.h"

#include <cstdlib>
#include <unistd.h>

namespace vn::test {

Backend ours() {
    const char* path = std::getenv("VN_E2E_SERVER_PATH");
    return {"venus-render-server", path && *path ? path : VN_TEST_SERVER_PATH, VN_PROXY_LAYOUT_V1};
}

bool virgl_available() {
    if (const char* skip = std::getenv("VN_TEST_SKIP_VIRGL"); skip && *skip == '1')
        return false;
    return ::access(virgl().path.c_str(), X_OK) == 0;
}

} // namespace vn::test
