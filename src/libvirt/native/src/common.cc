// Handles, the async call worker, error capture and argument helpers shared by every API file.
#include "common.h"

#include <cstdlib>
#include <cstring>
#include <thread>

namespace vb {

const char* KindName(Kind k) {
  switch (k) {
    case Kind::Connect: return "connection";
    case Kind::Domain: return "domain";
    case Kind::Pool: return "storage pool";
    case Kind::Volume: return "storage volume";
    case Kind::Checkpoint: return "checkpoint";
    case Kind::Stream: return "stream";
    case Kind::Secret: return "secret";
  }
  return "handle";
}

static int InvalidCode(Kind k) {
  switch (k) {
    case Kind::Connect: return VIR_ERR_INVALID_CONN;
    case Kind::Domain: return VIR_ERR_INVALID_DOMAIN;
    case Kind::Pool: return VIR_ERR_INVALID_STORAGE_POOL;
    case Kind::Volume: return VIR_ERR_INVALID_STORAGE_VOL;
    case Kind::Checkpoint: return VIR_ERR_INVALID_DOMAIN_CHECKPOINT;
    case Kind::Stream: return VIR_ERR_INVALID_STREAM;
    case Kind::Secret: return VIR_ERR_INVALID_SECRET;
  }
  return VIR_ERR_INVALID_ARG;
}

void AddRef(Kind k, void* p) {
  switch (k) {
    case Kind::Connect: virConnectRef(static_cast<virConnectPtr>(p)); break;
    case Kind::Domain: virDomainRef(static_cast<virDomainPtr>(p)); break;
    case Kind::Pool: virStoragePoolRef(static_cast<virStoragePoolPtr>(p)); break;
    case Kind::Volume: virStorageVolRef(static_cast<virStorageVolPtr>(p)); break;
    case Kind::Checkpoint: virDomainCheckpointRef(static_cast<virDomainCheckpointPtr>(p)); break;
    case Kind::Stream: virStreamRef(static_cast<virStreamPtr>(p)); break;
    case Kind::Secret: virSecretRef(static_cast<virSecretPtr>(p)); break;
  }
}

void DropRef(Kind k, void* p) {
  switch (k) {
    case Kind::Connect: virConnectClose(static_cast<virConnectPtr>(p)); break;
    case Kind::Domain: virDomainFree(static_cast<virDomainPtr>(p)); break;
    case Kind::Pool: virStoragePoolFree(static_cast<virStoragePoolPtr>(p)); break;
    case Kind::Volume: virStorageVolFree(static_cast<virStorageVolPtr>(p)); break;
    case Kind::Checkpoint: virDomainCheckpointFree(static_cast<virDomainCheckpointPtr>(p)); break;
    case Kind::Stream: virStreamFree(static_cast<virStreamPtr>(p)); break;
    case Kind::Secret: virSecretFree(static_cast<virSecretPtr>(p)); break;
  }
  // Dropping a reference never reports anything we could act on; keep this thread's slot clean.
  virResetLastError();
}

Owned::~Owned() {
  if (ptr) DropRef(kind, ptr);
}

// ---------------------------------------------------------------- Handle

struct AddonData {
  Napi::FunctionReference handleCtor;
};

Napi::Function Handle::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeHandle",
                                    {
                                        InstanceMethod<&Handle::Free>("free"),
                                        InstanceAccessor<&Handle::IsFreed>("freed"),
                                        InstanceAccessor<&Handle::GetKind>("kind"),
                                    });
  auto* data = new AddonData();
  data->handleCtor = Napi::Persistent(ctor);
  env.SetInstanceData<AddonData>(data);
  return ctor;
}

Handle::Handle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Handle>(info) {}

Handle::~Handle() {
  // GC fallback: the facade normally frees deterministically before this runs.
  if (kind == Kind::Connect && ptr) {
    // Closing a remote connection talks to the daemon; never block the finalizer on that.
    void* p = ptr;
    ptr = nullptr;
    std::thread([p] { DropRef(Kind::Connect, p); }).detach();
    return;
  }
  Release();
}

Napi::Object Handle::New(Napi::Env env, const vb::Ref& owned) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->handleCtor.New({});
  Handle* h = Handle::Unwrap(obj);
  h->kind = owned->kind;
  h->ptr = owned->ptr;
  h->stream = owned->stream;
  owned->ptr = nullptr;  // ownership moved into the handle
  if (h->kind == Kind::Stream && !h->stream) h->stream = std::make_shared<StreamState>();
  return obj;
}

Napi::Object Handle::NewFromRaw(Napi::Env env, Kind k, void* ptr) {
  return New(env, std::make_shared<Owned>(k, ptr));
}

void Handle::Release() {
  if (!ptr) return;
  void* p = ptr;
  ptr = nullptr;
  if (kind == Kind::Stream && stream && !stream->ended.exchange(true)) {
    // libvirt requires an active transfer to be aborted before the stream is released.
    virStreamAbort(static_cast<virStreamPtr>(p));
    virResetLastError();
  }
  DropRef(kind, p);
}

vb::Ref Handle::Detach() {
  auto r = std::make_shared<Owned>(kind, ptr, stream);
  ptr = nullptr;
  return r;
}

Napi::Value Handle::Free(const Napi::CallbackInfo& info) {
  bool had = ptr != nullptr;
  Release();
  return Napi::Boolean::New(info.Env(), had);
}

Napi::Value Handle::IsFreed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr == nullptr); }

Napi::Value Handle::GetKind(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), KindName(kind)); }

// ---------------------------------------------------------------- errors

LvError CaptureLastError(const char* function) {
  LvError out;
  out.function = function;
  virErrorPtr e = virGetLastError();
  if (e && e->code != VIR_ERR_OK) {
    out.code = e->code;
    out.domain = e->domain;
    out.level = e->level;
    out.message = e->message ? e->message : "";
  } else {
    out.message = std::string(function) + " failed without reporting an error";
  }
  virResetLastError();
  return out;
}

static thread_local std::optional<LvError> tKept;

void KeepError(LvError e) { tKept = std::move(e); }

Napi::Error MakeLvError(Napi::Env env, const LvError& e) {
  Napi::Error err = Napi::Error::New(env, e.message);
  Napi::Object o = err.Value();
  o.Set("libvirtCode", Napi::Number::New(env, e.code));
  o.Set("libvirtDomain", Napi::Number::New(env, e.domain));
  o.Set("libvirtLevel", Napi::Number::New(env, e.level));
  o.Set("libvirtFunction", Napi::String::New(env, e.function));
  return err;
}

void ThrowFreed(Napi::Env env, Kind k, const char* function) {
  LvError e;
  e.code = InvalidCode(k);
  e.domain = VIR_FROM_NONE;
  e.function = function;
  e.message = std::string(function) + ": the " + KindName(k) + " handle has already been freed or closed";
  throw MakeLvError(env, e);
}

// ---------------------------------------------------------------- Call

Call::Call(Napi::Env env, const char* function, Exec exec, Done done)
    : Napi::AsyncWorker(env, function),
      function_(function),
      exec_(std::move(exec)),
      done_(std::move(done)),
      deferred_(Napi::Promise::Deferred::New(env)) {}

void Call::Execute() {
  tKept.reset();
  bool ok = exec_();
  if (!ok) {
    error_ = tKept ? *tKept : CaptureLastError(function_);
    tKept.reset();
    virResetLastError();
  }
  exec_ = nullptr;  // drop captured references on this (worker) thread
  if (!ok) SetError(error_.message);
}

void Call::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    deferred_.Resolve(done_ ? done_(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
  done_ = nullptr;
}

void Call::OnError(const Napi::Error&) {
  Napi::HandleScope scope(Env());
  deferred_.Reject(MakeLvError(Env(), error_).Value());
  done_ = nullptr;
}

Napi::Value Run(Napi::Env env, const char* function, Call::Exec exec, Call::Done done) {
  auto* w = new Call(env, function, std::move(exec), std::move(done));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ---------------------------------------------------------------- arguments

Ref RefOf(const Napi::CallbackInfo& info, size_t i, Kind k, const char* function) {
  Napi::Env env = info.Env();
  Napi::Value v = info[i];
  Napi::FunctionReference& ctor = env.GetInstanceData<AddonData>()->handleCtor;
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(ctor.Value())) {
    throw Napi::TypeError::New(env, std::string(function) + ": argument " + std::to_string(i) + " must be a " +
                                        KindName(k) + " handle");
  }
  Handle* h = Handle::Unwrap(v.As<Napi::Object>());
  if (h->kind != k) {
    throw Napi::TypeError::New(env, std::string(function) + ": argument " + std::to_string(i) + " is a " +
                                        KindName(h->kind) + " handle, expected a " + KindName(k) + " handle");
  }
  if (!h->ptr) ThrowFreed(env, k, function);
  AddRef(k, h->ptr);
  return std::make_shared<Owned>(k, h->ptr, h->stream);
}

Ref OptRefOf(const Napi::CallbackInfo& info, size_t i, Kind k, const char* function) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return RefOf(info, i, k, function);
}

std::string ArgStr(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::optional<std::string> ArgOptStr(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsNull() || info[i].IsUndefined()) return std::nullopt;
  return ArgStr(info, i);
}

static double ArgNumber(const Napi::CallbackInfo& info, size_t i, double def) {
  if (info[i].IsUndefined() || info[i].IsNull()) return def;
  if (info[i].IsBigInt()) {
    bool lossless;
    return static_cast<double>(info[i].As<Napi::BigInt>().Uint64Value(&lossless));
  }
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, uint32_t def) {
  return static_cast<uint32_t>(ArgNumber(info, i, def));
}

int32_t ArgI32(const Napi::CallbackInfo& info, size_t i, int32_t def) {
  return static_cast<int32_t>(ArgNumber(info, i, def));
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, uint64_t def) {
  double d = ArgNumber(info, i, static_cast<double>(def));
  if (d < 0) throw Napi::RangeError::New(info.Env(), "argument " + std::to_string(i) + " must not be negative");
  return static_cast<uint64_t>(d);
}

Napi::Value NullableStr(Napi::Env env, const std::optional<std::string>& s) {
  return s ? Napi::String::New(env, *s) : env.Null();
}

std::optional<std::string> TakeStr(char* s) {
  if (!s) return std::nullopt;
  std::string out(s);
  free(s);
  return out;
}

std::vector<TypedParam> CopyTypedParams(virTypedParameterPtr params, int n) {
  std::vector<TypedParam> out;
  out.reserve(n > 0 ? n : 0);
  for (int i = 0; i < n; i++) {
    TypedParam p;
    p.name = params[i].field;
    p.type = params[i].type;
    switch (params[i].type) {
      case VIR_TYPED_PARAM_INT: p.number = params[i].value.i; break;
      case VIR_TYPED_PARAM_UINT: p.number = params[i].value.ui; break;
      case VIR_TYPED_PARAM_LLONG: p.number = static_cast<double>(params[i].value.l); break;
      case VIR_TYPED_PARAM_ULLONG: p.number = static_cast<double>(params[i].value.ul); break;
      case VIR_TYPED_PARAM_DOUBLE: p.number = params[i].value.d; break;
      case VIR_TYPED_PARAM_BOOLEAN: p.boolean = params[i].value.b != 0; break;
      case VIR_TYPED_PARAM_STRING: p.str = params[i].value.s ? params[i].value.s : ""; break;
      default: continue;  // unknown future type: skip rather than guess
    }
    out.push_back(std::move(p));
  }
  return out;
}

Napi::Object TypedParamsToJS(Napi::Env env, const std::vector<TypedParam>& params) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& p : params) {
    if (p.type == VIR_TYPED_PARAM_STRING)
      o.Set(p.name, Napi::String::New(env, p.str));
    else if (p.type == VIR_TYPED_PARAM_BOOLEAN)
      o.Set(p.name, Napi::Boolean::New(env, p.boolean));
    else
      o.Set(p.name, Napi::Number::New(env, p.number));
  }
  return o;
}

// ---------------------------------------------------------------- registry

std::vector<ExportEntry>& Registry() {
  static std::vector<ExportEntry> entries;
  return entries;
}

Registrar::Registrar(std::initializer_list<ExportEntry> entries) {
  for (const auto& e : entries) Registry().push_back(e);
}

}  // namespace vb
