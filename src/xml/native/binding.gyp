# Builds volback_relaxng.node: libxml2's RelaxNG validator called in-process (node-addon-api).
# Needs libxml2-dev (pkg-config libxml-2.0), g++ and python3.
{
  "targets": [
    {
      "target_name": "volback_relaxng",
      "sources": ["src/relaxng.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags libxml-2.0)"],
      "libraries": ["<!@(pkg-config --libs libxml-2.0)"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
