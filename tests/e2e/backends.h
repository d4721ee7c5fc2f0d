#pragma once
// The renderers the end-to-end tests drive through libvenus-proxy: our venus-render-server, and
// Debian's virgl_render_server (virglrenderer 0.10.4) when it is installed, as the reference
// the answers are compared with.
#include "vn/client/proxy_transport.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

namespace vn::test {

struct Backend {
    std::string name;
    std::string path;
    vn_proxy_layout layout;
};

// $VN_E2E_SERVER_PATH runs the suite against another build of our server (an installed one).
Backend ours();
inline Backend virgl() {
    return {"virgl_render_server", "/usr/libexec/virgl_render_server", VN_PROXY_LAYOUT_V0_10};
}
bool virgl_available();

inline std::shared_ptr<client::ProxyServer> spawn(const Backend& b) {
    return client::ProxyServer::spawn(b.path, b.layout);
}

} // namespace vn::test

// Runs `fn(backend)` as one test case for our server and one for virglrenderer 0.10.4 (skipped,
// with a warning, where it is not installed).
#define E2E_BOTH(name, tags, fn)                                                                   \
    TEST_CASE(name " [ours]", tags "[ours]") {                                                     \
        fn(::vn::test::ours());                                                                    \
    }                                                                                              \
    TEST_CASE(name " [virgl-0.10]", tags "[virgl]") {                                              \
        if (!::vn::test::virgl_available()) {                                                      \
            WARN("SKIPPED: /usr/libexec/virgl_render_server is not installed");                    \
            return;                                                                                \
        }                                                                                          \
        fn(::vn::test::virgl());                                                                   \
    }
