#pragma once
// Transport over libvenus-proxy: the guest talks to a render server the way a VMM forwards a
// virtio-gpu context to it. Works with our venus-render-server (VN_PROXY_LAYOUT_V1) and with
// virglrenderer's virgl_render_server (VN_PROXY_LAYOUT_V0_10 for Debian 12's 0.10.4).
#include "venus_proxy.h"
#include "vn/client/transport.h"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

namespace vn::client {

// Setting up a server or a context failed; what() says which call and why.
class SetupError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One render server process (spawned) or connection (adopted), shared by its contexts.
class ProxyServer {
  public:
    // Forks and execs `path` (our server or virgl_render_server). Throws SetupError.
    static std::shared_ptr<ProxyServer> spawn(const std::string& path, vn_proxy_layout layout);
    // Adopts a connected socket to a running server; takes ownership of fd. Throws SetupError.
    static std::shared_ptr<ProxyServer> connect(UniqueFd fd, vn_proxy_layout layout);
    ~ProxyServer();
    ProxyServer(const ProxyServer&) = delete;
    ProxyServer& operator=(const ProxyServer&) = delete;

    vn_proxy_server* get() const { return m_server; }
    vn_proxy_layout layout() const { return m_layout; }
    // pid of a spawned server, -1 for an adopted one.
    int pid() const;
    // A context id not yet handed out on this server.
    std::uint32_t next_context_id() { return m_next_ctx_id.fetch_add(1); }

  private:
    ProxyServer(vn_proxy_server* server, vn_proxy_layout layout)
        : m_server(server), m_layout(layout) {}
    vn_proxy_server* m_server;
    vn_proxy_layout m_layout;
    std::atomic<std::uint32_t> m_next_ctx_id{1};
};

class ProxyTransport final : public Transport {
  public:
    // A new Venus context on `server` (which stays alive as long as the context does).
    // Throws SetupError.
    explicit ProxyTransport(std::shared_ptr<ProxyServer> server, const std::string& name = "guest");
    // Convenience: a private server for this one context.
    static std::unique_ptr<ProxyTransport> spawn(const std::string& server_path,
                                                 vn_proxy_layout layout);
    ~ProxyTransport() override;
    ProxyTransport(const ProxyTransport&) = delete;
    ProxyTransport& operator=(const ProxyTransport&) = delete;

    Status submit_cmd(std::span<const std::byte> cmd) override;
    Status create_blob(std::uint64_t blob_id, std::uint64_t size, std::uint32_t flags,
                       Blob& out) override;
    Status destroy_resource(std::uint32_t res_id) override;
    Status submit_fence(std::uint32_t ring_idx, std::uint32_t& seqno) override;
    Status wait_fence(std::uint32_t ring_idx, std::uint32_t seqno, int timeout_ms) override;
    bool is_lost() override;
    std::string last_error() const override { return m_error; }

    vn_proxy_context* context() const { return m_ctx; }
    const std::shared_ptr<ProxyServer>& server() const { return m_server; }
    std::uint32_t context_id() const { return m_ctx_id; }

  private:
    Status fail(int proxy_result, const char* what);

    std::shared_ptr<ProxyServer> m_server;
    vn_proxy_context* m_ctx = nullptr;
    std::uint32_t m_ctx_id = 0;
    std::uint32_t m_next_res_id = 1;
    // A 0.10.x worker answers a stream it could not decode with "refused" and keeps the context
    // half alive (its decoder is fatal from then on); the guest treats that as lost, like Mesa.
    bool m_stream_refused = false;
    std::string m_error;
};

} // namespace vn::client
