// Domain events: libvirt callbacks (on the event-loop thread) → ThreadSafeFunction → JS callback.
//
// Each registration owns one Subscription holding an unref'd TSFN, so a registered callback never
// keeps Node alive. libvirt calls FreeSubscription once it will never call back again (after
// virConnectDomainEventDeregisterAny, or when the connection goes away); that releases the TSFN.
#include <set>

#include "shapes.h"

namespace vb {

struct Subscription {
  Napi::ThreadSafeFunction tsfn;
  int eventId;
  napi_env env;
  bool alive = true;  // false once the env is torn down: its TSFN must not be touched again
};

// Guards every Subscription's `alive` and TSFN use against environment teardown, which can race
// with libvirt's event thread at process exit.
static std::mutex gSubsMutex;
static std::set<Subscription*> gSubs;

void ShutdownEventsForEnv(napi_env env) {
  std::lock_guard<std::mutex> lock(gSubsMutex);
  for (auto* sub : gSubs)
    if (sub->env == env) sub->alive = false;
}

struct EventPayload {
  explicit EventPayload(int id) : eventId(id) {}
  int eventId;
  std::string domainName;
  std::string domainUUID;
  // lifecycle
  int event = 0, detail = 0;
  // jobCompleted
  std::vector<TypedParam> params;
  // blockJob
  std::string disk;
  int type = 0, status = 0;
};

static void FreeSubscription(void* opaque) {
  auto* sub = static_cast<Subscription*>(opaque);
  {
    std::lock_guard<std::mutex> lock(gSubsMutex);
    gSubs.erase(sub);
    if (sub->alive) sub->tsfn.Release();
  }
  delete sub;
}

static void Deliver(void* opaque, EventPayload* p, virDomainPtr dom) {
  auto* sub = static_cast<Subscription*>(opaque);
  const char* name = virDomainGetName(dom);
  p->domainName = name ? name : "";
  char uuid[VIR_UUID_STRING_BUFLEN] = {0};
  if (virDomainGetUUIDString(dom, uuid) == 0) p->domainUUID = uuid;
  virResetLastError();
  std::lock_guard<std::mutex> lock(gSubsMutex);
  if (!sub->alive) {
    delete p;
    return;
  }
  napi_status st = sub->tsfn.NonBlockingCall(p, [](Napi::Env env, Napi::Function cb, EventPayload* p) {
    std::unique_ptr<EventPayload> owned(p);
    if (env == nullptr || cb.IsEmpty()) return;
    Napi::Object o = Napi::Object::New(env);
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", p->domainName);
    d.Set("uuid", p->domainUUID);
    o.Set("domain", d);
    switch (p->eventId) {
      case VIR_DOMAIN_EVENT_ID_LIFECYCLE:
        o.Set("event", "lifecycle");
        o.Set("type", p->event);
        o.Set("detail", p->detail);
        break;
      case VIR_DOMAIN_EVENT_ID_JOB_COMPLETED:
        o.Set("event", "jobCompleted");
        o.Set("stats", TypedParamsToJS(env, p->params));
        break;
      case VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2:
        o.Set("event", "blockJob");
        o.Set("disk", p->disk);
        o.Set("type", p->type);
        o.Set("status", p->status);
        break;
    }
    cb.Call({o});
  });
  if (st != napi_ok) delete p;  // the environment is shutting down
}

static void OnLifecycle(virConnectPtr, virDomainPtr dom, int event, int detail, void* opaque) {
  auto* p = new EventPayload(VIR_DOMAIN_EVENT_ID_LIFECYCLE);
  p->event = event;
  p->detail = detail;
  Deliver(opaque, p, dom);
}

static void OnJobCompleted(virConnectPtr, virDomainPtr dom, virTypedParameterPtr params, int n, void* opaque) {
  auto* p = new EventPayload(VIR_DOMAIN_EVENT_ID_JOB_COMPLETED);
  p->params = CopyTypedParams(params, n);  // libvirt frees params after we return
  Deliver(opaque, p, dom);
}

static void OnBlockJob(virConnectPtr, virDomainPtr dom, const char* disk, int type, int status, void* opaque) {
  auto* p = new EventPayload(VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2);
  p->disk = disk ? disk : "";
  p->type = type;
  p->status = status;
  Deliver(opaque, p, dom);
}

VB_FN(DomainEventRegister) {
  Napi::Env env = info.Env();
  auto c = RefOf(info, 0, Kind::Connect, "virConnectDomainEventRegisterAny");
  auto d = OptRefOf(info, 1, Kind::Domain, "virConnectDomainEventRegisterAny");
  int eventId = ArgI32(info, 2);
  if (!info[3].IsFunction()) throw Napi::TypeError::New(env, "domainEventRegister: argument 3 must be a function");
  virConnectDomainEventGenericCallback cb;
  switch (eventId) {
    case VIR_DOMAIN_EVENT_ID_LIFECYCLE: cb = VIR_DOMAIN_EVENT_CALLBACK(OnLifecycle); break;
    case VIR_DOMAIN_EVENT_ID_JOB_COMPLETED: cb = VIR_DOMAIN_EVENT_CALLBACK(OnJobCompleted); break;
    case VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2: cb = VIR_DOMAIN_EVENT_CALLBACK(OnBlockJob); break;
    default: throw Napi::RangeError::New(env, "domainEventRegister: unsupported event id " + std::to_string(eventId));
  }
  auto* sub = new Subscription{
      Napi::ThreadSafeFunction::New(env, info[3].As<Napi::Function>(), "volback-libvirt-event", 0, 1), eventId, env};
  sub->tsfn.Unref(env);
  {
    std::lock_guard<std::mutex> lock(gSubsMutex);
    gSubs.insert(sub);
  }  // an event subscription alone must not keep the process alive
  auto id = std::make_shared<int>(-1);
  return Run(
      env, "virConnectDomainEventRegisterAny",
      [=] {
        *id = virConnectDomainEventRegisterAny(Get<virConnectPtr>(c), d ? Get<virDomainPtr>(d) : nullptr, eventId, cb,
                                               sub, FreeSubscription);
        if (*id < 0) {
          // libvirt did not take the subscription, so it will not call FreeSubscription.
          KeepError(CaptureLastError("virConnectDomainEventRegisterAny"));
          FreeSubscription(sub);
          return false;
        }
        return true;
      },
      [id](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *id); });
}

VB_FN(DomainEventDeregister) {
  auto c = RefOf(info, 0, Kind::Connect, "virConnectDomainEventDeregisterAny");
  int id = ArgI32(info, 1);
  return IntCall(info.Env(), "virConnectDomainEventDeregisterAny", IntResult::Undefined,
                 [=]() -> long long { return virConnectDomainEventDeregisterAny(Get<virConnectPtr>(c), id); });
}

static Registrar reg({
    {"domainEventRegister",
     DomainEventRegister,
     {"virConnectDomainEventRegisterAny", "virDomainGetName", "virDomainGetUUIDString"}},
    {"domainEventDeregister", DomainEventDeregister, {"virConnectDomainEventDeregisterAny"}},
});

}  // namespace vb
