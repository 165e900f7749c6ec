# Builds volback_os.node: the few OS primitives Node lacks (flock(2)), called synchronously (node-addon-api).
# Needs only g++ and python3 (no library beyond libc).
{
  "targets": [
    {
      "target_name": "volback_os",
      "sources": ["src/os.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
