#pragma once
// Loads the host Vulkan driver into a process that will fork workers, before any guest exists.
#include <string>

namespace vn::decoder {

// Creates and destroys one Vulkan instance with no layers or extensions, keeping the libraries
// it loaded (the ICD and what it pulls in, e.g. libLLVM for lavapipe) resident for good.
//
// Why: a worker forked afterwards finds the driver already loaded and relocated, so its
// vkCreateInstance maps nothing new and the driver's pages stay shared (copy-on-write) with this
// process and every sibling instead of being loaded and relocated again in each worker, which
// cost tens of MiB of private memory and milliseconds per context.
//
// Security: call it only in a process that never sees guest data (the server, before it
// accepts clients). No physical device is enumerated and no device is created: the driver's
// library constructors and its instance entry points run once, on no input but the host's
// environment and ICD manifests, exactly as in the worker.
//
// Fork safety: only for drivers that work in a child forked after they were initialized.
// Mesa's (lavapipe) do; NVIDIA's driver 580 does not (the worker's vkCreateInstance fails), so
// the server calls this only when every ICD manifest names a Mesa driver, or when told to
// (--driver-preload; server/src/driver_manifests.h).
bool preload_host_drivers(std::string& error);

} // namespace vn::decoder
