#include "backends.h"

#include <cstdlib>
#include <unistd.h>

namespace vn::test {

bool virgl_available() {
    if (const char* skip = std::getenv("VN_TEST_SKIP_VIRGL"); skip && *skip == '1')
        return false;
    return ::access(virgl().path.c_str(), X_OK) == 0;
}

} // namespace vn::test
