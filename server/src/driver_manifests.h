#pragma once
// Which host Vulkan drivers the loader will load, read from their ICD manifests, and whether
// preloading them in the server is safe.
#include <string>
#include <vector>

namespace vn::server {

struct DriverManifest {
    std::string path;    // the manifest's JSON file
    std::string library; // its ICD.library_path, as written there ("" when unreadable)
};

// The manifests the Vulkan loader reads on Linux, in its order: VK_DRIVER_FILES (or the older
// VK_ICD_FILENAMES) when set, else the icd.d directories of the XDG config and data dirs and
// /etc; plus VK_ADD_DRIVER_FILES. Entries of those variables may be files or directories.
std::vector<DriverManifest> find_driver_manifests();

struct PreloadChoice {
    bool preload = false;
    std::string reason; // one line for the log: which drivers, and why
};

// --driver-preload=auto: preload only when every manifest names a Mesa driver. Mesa's Vulkan
// drivers open no device and start no thread before vkEnumeratePhysicalDevices, so an instance
// created and destroyed in the server leaves nothing a forked worker could trip on (checked on
// lavapipe by the e2e and CTS runs). Any other driver may notice the fork: NVIDIA's driver 580
// does, and its workers then fail vkCreateInstance. With no manifest at all nothing is
// preloaded either.
PreloadChoice choose_driver_preload(const std::vector<DriverManifest>& manifests);

} // namespace vn::server
