// Module entry of volback_ceph: the handle class, the export table, librados/librbd versions.
#include <set>

#include "common.h"

namespace vbc {

static Napi::Value WrappedFunctions(const Napi::CallbackInfo& info) {
  std::set<std::string> names = {"rados_version", "rbd_version"};
  for (const auto& e : Registry())
    for (const char* w : e.wraps) names.insert(w);
  Napi::Array out = Napi::Array::New(info.Env(), names.size());
  uint32_t i = 0;
  for (const auto& n : names) out.Set(i++, Napi::String::New(info.Env(), n));
  return out;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("CephHandle", Handle::Init(env));
  for (const auto& e : Registry()) exports.Set(e.js, Napi::Function::New(env, e.fn, e.js));
  exports.Set("wrappedFunctions", Napi::Function::New(env, WrappedFunctions, "wrappedFunctions"));
  int major = 0, minor = 0, extra = 0;
  rados_version(&major, &minor, &extra);
  exports.Set("radosVersion", std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(extra));
  rbd_version(&major, &minor, &extra);
  exports.Set("rbdVersion", std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(extra));
  return exports;
}

}  // namespace vbc

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vbc::Init(env, exports); }

NODE_API_MODULE(volback_ceph, InitModule)
