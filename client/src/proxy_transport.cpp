#include "vn/client/proxy_transport.h"

#include <limits>

namespace vn::client {

namespace {
Status from_proxy(int result) {
    switch (result) {
    case VN_PROXY_OK:
        return Status::Ok;
    case VN_PROXY_ERROR_INVALID_ARGUMENT:
        return Status::InvalidArgument;
    case VN_PROXY_ERROR_CONTEXT_LOST:
    case VN_PROXY_ERROR_SERVER_LOST:
        return Status::Lost;
    case VN_PROXY_ERROR_REFUSED:
        return Status::Refused;
    case VN_PROXY_ERROR_TIMEOUT:
        return Status::Timeout;
    default:
        return Status::System;
    }
}
} // namespace

std::shared_ptr<ProxyServer> ProxyServer::spawn(const std::string& path, vn_proxy_layout layout) {
    vn_proxy_server* server = nullptr;
    const int r = vn_proxy_server_spawn(path.c_str(), layout, 0, &server);
    if (r != VN_PROXY_OK)
        throw SetupError("vn_proxy_server_spawn(" + path + "): " + vn_proxy_result_string(r));
    return std::shared_ptr<ProxyServer>(new ProxyServer(server, layout));
}

std::shared_ptr<ProxyServer> ProxyServer::connect(UniqueFd fd, vn_proxy_layout layout) {
    vn_proxy_server* server = nullptr;
    const int r = vn_proxy_server_connect(fd.release(), layout, 0, &server);
    if (r != VN_PROXY_OK)
        throw SetupError(std::string("vn_proxy_server_connect: ") + vn_proxy_result_string(r));
    return std::shared_ptr<ProxyServer>(new ProxyServer(server, layout));
}

ProxyServer::~ProxyServer() {
    vn_proxy_server_destroy(m_server);
}

int ProxyServer::pid() const {
    return vn_proxy_server_pid(m_server);
}

ProxyTransport::ProxyTransport(std::shared_ptr<ProxyServer> server, const std::string& name)
    : m_server(std::move(server)), m_ctx_id(m_server->next_context_id()) {
    const int r = vn_proxy_context_create(m_server->get(), m_ctx_id, name.c_str(),
                                          VN_PROXY_CAPSET_VENUS, true, &m_ctx);
    if (r != VN_PROXY_OK)
        throw SetupError("vn_proxy_context_create(" + std::to_string(m_ctx_id) +
                         "): " + vn_proxy_result_string(r));
}

std::unique_ptr<ProxyTransport> ProxyTransport::spawn(const std::string& server_path,
                                                      vn_proxy_layout layout) {
    return std::make_unique<ProxyTransport>(ProxyServer::spawn(server_path, layout));
}

ProxyTransport::~ProxyTransport() {
    vn_proxy_context_destroy(m_ctx);
}

Status ProxyTransport::fail(int proxy_result, const char* what) {
    m_error = std::string(what) + ": " + vn_proxy_result_string(proxy_result);
    return from_proxy(proxy_result);
}

Status ProxyTransport::submit_cmd(std::span<const std::byte> cmd) {
    if (m_stream_refused)
        return Status::Lost;
    const int r = vn_proxy_context_submit_cmd(m_ctx, cmd.data(), cmd.size());
    if (r == VN_PROXY_ERROR_REFUSED) {
        m_stream_refused = true;
        m_error = "submit_cmd: the worker rejected the stream (its decoder is fatal now)";
        return Status::Lost;
    }
    return r == VN_PROXY_OK ? Status::Ok : fail(r, "submit_cmd");
}

Status ProxyTransport::create_blob(std::uint64_t blob_id, std::uint64_t size, std::uint32_t flags,
                                   Blob& out) {
    if (m_next_res_id == std::numeric_limits<std::uint32_t>::max())
        return Status::InvalidArgument;
    const std::uint32_t res_id = m_next_res_id++;
    vn_proxy_blob blob{};
    const int r = vn_proxy_context_create_resource(m_ctx, res_id, blob_id, size, flags, &blob);
    if (r != VN_PROXY_OK)
        return fail(r, "create_resource");
    out.res_id = res_id;
    out.fd.reset(blob.fd);
    out.fd_type = static_cast<FdType>(blob.fd_type);
    out.size = size;
    out.map_info = blob.map_info;
    return Status::Ok;
}

Status ProxyTransport::destroy_resource(std::uint32_t res_id) {
    const int r = vn_proxy_context_destroy_resource(m_ctx, res_id);
    return r == VN_PROXY_OK ? Status::Ok : fail(r, "destroy_resource");
}

Status ProxyTransport::submit_fence(std::uint32_t ring_idx, std::uint32_t& seqno) {
    if (m_stream_refused)
        return Status::Lost;
    const int r = vn_proxy_context_submit_fence(m_ctx, ring_idx, &seqno);
    return r == VN_PROXY_OK ? Status::Ok : fail(r, "submit_fence");
}

Status ProxyTransport::wait_fence(std::uint32_t ring_idx, std::uint32_t seqno, int timeout_ms) {
    if (m_stream_refused)
        return Status::Lost;
    const int r = vn_proxy_context_wait_fence(m_ctx, ring_idx, seqno, timeout_ms);
    return r == VN_PROXY_OK ? Status::Ok : fail(r, "wait_fence");
}

bool ProxyTransport::is_lost() {
    return m_stream_refused || vn_proxy_context_check(m_ctx) == VN_PROXY_ERROR_CONTEXT_LOST;
}

} // namespace vn::client
