# Builds volback_os.node: what Node 20 lacks (flock(2), a pre-filled pipe, zstd decompression), called
# synchronously (node-addon-api). Needs g++, python3 and libzstd-dev.
{
  "targets": [
    {
      "target_name": "volback_os",
      "sources": ["src/os.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lzstd"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
