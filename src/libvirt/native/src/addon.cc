// Module entry: libvirt initialisation, the event-loop thread, and the export table.
#include <set>
#include <thread>

#include "common.h"

namespace vb {

// libvirt's default error handler prints to stderr; errors reach JS through LibvirtError instead.
static void SilentErrorHandler(void*, virErrorPtr) {}

void StartEventLoopOnce() {
  // A process may load the addon more than once (worker threads, jest module registries):
  // libvirt's event implementation and its thread are process-wide, so start them exactly once.
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, SilentErrorHandler);
    virEventRegisterDefaultImpl();
    std::thread([] {
      virSetErrorFunc(nullptr, SilentErrorHandler);
      for (;;) {
        if (virEventRunDefaultImpl() < 0) virResetLastError();
      }
    }).detach();
  });
}

static Napi::Value WrappedFunctions(const Napi::CallbackInfo& info) {
  std::set<std::string> names = {"virInitialize", "virSetErrorFunc", "virEventRegisterDefaultImpl",
                                 "virEventRunDefaultImpl", "virGetLastError", "virResetLastError", "virGetVersion"};
  for (const auto& e : Registry())
    for (const char* w : e.wraps) names.insert(w);
  Napi::Array out = Napi::Array::New(info.Env(), names.size());
  uint32_t i = 0;
  for (const auto& n : names) out.Set(i++, Napi::String::New(info.Env(), n));
  return out;
}

static Napi::Value Exports(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  for (const auto& e : Registry()) {
    Napi::Array w = Napi::Array::New(info.Env(), e.wraps.size());
    for (size_t i = 0; i < e.wraps.size(); i++) w.Set(i, Napi::String::New(info.Env(), e.wraps[i]));
    out.Set(e.js, w);
  }
  return out;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  StartEventLoopOnce();
  // Errors raised on the main thread (e.g. by virStreamAbort in a finalizer) must not print either.
  virSetErrorFunc(nullptr, SilentErrorHandler);
  napi_env raw = env;
  env.AddCleanupHook([raw] { ShutdownEventsForEnv(raw); });
  exports.Set("NativeHandle", Handle::Init(env));
  for (const auto& e : Registry()) exports.Set(e.js, Napi::Function::New(env, e.fn, e.js));
  exports.Set("wrappedFunctions", Napi::Function::New(env, WrappedFunctions, "wrappedFunctions"));
  exports.Set("exportTable", Napi::Function::New(env, Exports, "exportTable"));
  unsigned long lib = 0;
  virGetVersion(&lib, nullptr, nullptr);
  exports.Set("libvirtVersion", Napi::Number::New(env, static_cast<double>(lib)));
  exports.Set("compiledAgainst", Napi::Number::New(env, LIBVIR_VERSION_NUMBER));
  return exports;
}

}  // namespace vb

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vb::Init(env, exports); }

NODE_API_MODULE(volback_libvirt, InitModule)
