// Domain API: lifecycle, state, XML, checkpoints, backup and block jobs, job stats and QEMU monitor pass-through.
#include <unistd.h>

#include <vector>

#include "shapes.h"

namespace vb {

static virDomainPtr D(const Ref& r) { return Get<virDomainPtr>(r); }
static virDomainCheckpointPtr CP(const Ref& r) { return Get<virDomainCheckpointPtr>(r); }

#define DOM_INT(jsname, cfn, shape, expr)                                  \
  VB_FN(jsname) {                                                          \
    auto d = RefOf(info, 0, Kind::Domain, #cfn);                           \
    uint32_t flags = ArgU32(info, 1);                                      \
    (void)flags;                                                           \
    return IntCall(info.Env(), #cfn, shape, [=]() -> long long { return expr; }); \
  }

DOM_INT(DomainUndefineFlags, virDomainUndefineFlags, IntResult::Undefined, virDomainUndefineFlags(D(d), flags))
DOM_INT(DomainCreateWithFlags, virDomainCreateWithFlags, IntResult::Undefined, virDomainCreateWithFlags(D(d), flags))
DOM_INT(DomainDestroyFlags, virDomainDestroyFlags, IntResult::Undefined, virDomainDestroyFlags(D(d), flags))
DOM_INT(DomainResume, virDomainResume, IntResult::Undefined, virDomainResume(D(d)))
DOM_INT(DomainSuspend, virDomainSuspend, IntResult::Undefined, virDomainSuspend(D(d)))
DOM_INT(DomainIsActive, virDomainIsActive, IntResult::Boolean, virDomainIsActive(D(d)))
DOM_INT(DomainIsPersistent, virDomainIsPersistent, IntResult::Boolean, virDomainIsPersistent(D(d)))
DOM_INT(DomainAbortJob, virDomainAbortJob, IntResult::Undefined, virDomainAbortJob(D(d)))
DOM_INT(DomainAbortJobFlags, virDomainAbortJobFlags, IntResult::Undefined, virDomainAbortJobFlags(D(d), flags))
// (unsigned)-1 means inactive or error: report it as a failure.
DOM_INT(DomainGetID, virDomainGetID, IntResult::Number, [&]() -> long long {
  unsigned int id = virDomainGetID(D(d));
  return id == static_cast<unsigned int>(-1) ? -1 : static_cast<long long>(id);
}())

VB_FN(DomainGetName) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainGetName");
  return ConstStrCall(info.Env(), "virDomainGetName", [d] { return virDomainGetName(D(d)); });
}

VB_FN(DomainGetUUIDString) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainGetUUIDString");
  auto buf = std::make_shared<std::string>(VIR_UUID_STRING_BUFLEN, '\0');
  return ConstStrCall(info.Env(), "virDomainGetUUIDString", [d, buf]() -> const char* {
    return virDomainGetUUIDString(D(d), buf->data()) < 0 ? nullptr : buf->c_str();
  });
}

VB_FN(DomainGetXMLDesc) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainGetXMLDesc");
  uint32_t flags = ArgU32(info, 1);
  return StrCall(info.Env(), "virDomainGetXMLDesc", [=] { return virDomainGetXMLDesc(D(d), flags); });
}

VB_FN(DomainGetState) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainGetState");
  auto res = std::make_shared<std::pair<int, int>>(0, 0);
  return Run(
      info.Env(), "virDomainGetState", [d, res] { return virDomainGetState(D(d), &res->first, &res->second, 0) == 0; },
      [res](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("state", res->first);
        o.Set("reason", res->second);
        return o;
      });
}

VB_FN(DomainGetInfo) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainGetInfo");
  auto res = std::make_shared<virDomainInfo>();
  return Run(
      info.Env(), "virDomainGetInfo", [d, res] { return virDomainGetInfo(D(d), res.get()) == 0; },
      [res](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("state", res->state);
        o.Set("maxMemKiB", static_cast<double>(res->maxMem));
        o.Set("memoryKiB", static_cast<double>(res->memory));
        o.Set("nrVirtCpu", res->nrVirtCpu);
        o.Set("cpuTimeNs", static_cast<double>(res->cpuTime));
        return o;
      });
}

VB_FN(DomainGetBlockInfo) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainGetBlockInfo");
  auto disk = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  auto res = std::make_shared<virDomainBlockInfo>();
  return Run(
      info.Env(), "virDomainGetBlockInfo",
      [=] { return virDomainGetBlockInfo(D(d), disk.c_str(), res.get(), flags) == 0; },
      [res](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("capacity", static_cast<double>(res->capacity));
        o.Set("allocation", static_cast<double>(res->allocation));
        o.Set("physical", static_cast<double>(res->physical));
        return o;
      });
}

/** The block job on one disk (also a backup job's per-disk part): {type, bandwidth, cur, end}, or null. */
VB_FN(DomainGetBlockJobInfo) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainGetBlockJobInfo");
  auto disk = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  struct Res {
    int found = 0;
    virDomainBlockJobInfo job{};
  };
  auto res = std::make_shared<Res>();
  return Run(
      info.Env(), "virDomainGetBlockJobInfo",
      [=] {
        res->found = virDomainGetBlockJobInfo(D(d), disk.c_str(), &res->job, flags);
        return res->found >= 0;
      },
      [res](Napi::Env env) -> Napi::Value {
        if (res->found == 0) return env.Null();
        Napi::Object o = Napi::Object::New(env);
        o.Set("type", static_cast<double>(res->job.type));
        o.Set("bandwidth", static_cast<double>(res->job.bandwidth));
        o.Set("cur", static_cast<double>(res->job.cur));
        o.Set("end", static_cast<double>(res->job.end));
        return o;
      });
}

// Block jobs on one disk: bandwidth in MiB/s, or bytes/s with the *_BANDWIDTH_BYTES flag; 0 is unlimited.
#define DOM_DISK_BANDWIDTH(jsname, cfn)                                                         \
  VB_FN(jsname) {                                                                               \
    auto d = RefOf(info, 0, Kind::Domain, #cfn);                                                \
    auto disk = ArgStr(info, 1);                                                                \
    uint64_t bandwidth = ArgU64(info, 2);                                                       \
    uint32_t flags = ArgU32(info, 3);                                                           \
    return IntCall(info.Env(), #cfn, IntResult::Undefined, [=]() -> long long {                 \
      return cfn(D(d), disk.c_str(), static_cast<unsigned long>(bandwidth), flags);             \
    });                                                                                         \
  }

DOM_DISK_BANDWIDTH(DomainBlockPull, virDomainBlockPull)
DOM_DISK_BANDWIDTH(DomainBlockJobSetSpeed, virDomainBlockJobSetSpeed)

VB_FN(DomainBlockJobAbort) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainBlockJobAbort");
  auto disk = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return IntCall(info.Env(), "virDomainBlockJobAbort", IntResult::Undefined, [=]() -> long long {
    return virDomainBlockJobAbort(D(d), disk.c_str(), flags);
  });
}

VB_FN(DomainGetJobStats) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainGetJobStats");
  uint32_t flags = ArgU32(info, 1);
  struct Res {
    int type = 0;
    std::vector<TypedParam> params;
  };
  auto res = std::make_shared<Res>();
  return Run(
      info.Env(), "virDomainGetJobStats",
      [=] {
        virTypedParameterPtr params = nullptr;
        int n = 0;
        if (virDomainGetJobStats(D(d), &res->type, &params, &n, flags) < 0) return false;
        res->params = CopyTypedParams(params, n);
        virTypedParamsFree(params, n);
        return true;
      },
      [res](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("type", res->type);
        o.Set("stats", TypedParamsToJS(env, res->params));
        return o;
      });
}

VB_FN(DomainBackupBegin) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainBackupBegin");
  auto backupXml = ArgStr(info, 1);
  auto checkpointXml = ArgOptStr(info, 2);
  uint32_t flags = ArgU32(info, 3);
  return IntCall(info.Env(), "virDomainBackupBegin", IntResult::Undefined, [=]() -> long long {
    return virDomainBackupBegin(D(d), backupXml.c_str(), checkpointXml ? checkpointXml->c_str() : nullptr, flags);
  });
}

VB_FN(DomainBackupGetXMLDesc) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainBackupGetXMLDesc");
  uint32_t flags = ArgU32(info, 1);
  return StrCall(info.Env(), "virDomainBackupGetXMLDesc", [=] { return virDomainBackupGetXMLDesc(D(d), flags); });
}

VB_FN(DomainQemuMonitorCommand) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainQemuMonitorCommand");
  auto cmd = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return StrCall(info.Env(), "virDomainQemuMonitorCommand", [=]() -> char* {
    char* result = nullptr;
    if (virDomainQemuMonitorCommand(D(d), cmd.c_str(), &result, flags) < 0) return nullptr;
    return result ? result : strdup("");
  });
}

// The command carries open file descriptors to QEMU (SCM_RIGHTS through libvirtd), e.g. for
// `add-fd`: QEMU then needs no access of its own to the file. Descriptors QEMU sends back are closed.
VB_FN(DomainQemuMonitorCommandWithFiles) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainQemuMonitorCommandWithFiles");
  auto cmd = ArgStr(info, 1);
  std::vector<int> fds;
  if (!info[2].IsArray()) {
    Napi::TypeError::New(info.Env(), "virDomainQemuMonitorCommandWithFiles: argument 3 must be an array of fds")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  auto list = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) fds.push_back(list.Get(i).As<Napi::Number>().Int32Value());
  uint32_t flags = ArgU32(info, 3);
  return StrCall(info.Env(), "virDomainQemuMonitorCommandWithFiles", [=]() mutable -> char* {
    char* result = nullptr;
    unsigned int nout = 0;
    int* outfiles = nullptr;
    int rc = virDomainQemuMonitorCommandWithFiles(D(d), cmd.c_str(), fds.size(), fds.data(), &nout, &outfiles,
                                                  &result, flags);
    for (unsigned int i = 0; i < nout; i++) close(outfiles[i]);
    free(outfiles);
    if (rc < 0) return nullptr;
    return result ? result : strdup("");
  });
}

// ---- guest agent

// Freezes (or thaws) the guest's filesystems through the QEMU guest agent: all of them, or the named
// mountpoints. Resolves the number of filesystems frozen (thawed).
#define DOM_FS(jsname, cfn)                                                                       \
  VB_FN(jsname) {                                                                                 \
    auto d = RefOf(info, 0, Kind::Domain, #cfn);                                                  \
    std::vector<std::string> points;                                                              \
    if (info[1].IsArray()) {                                                                      \
      auto list = info[1].As<Napi::Array>();                                                      \
      for (uint32_t i = 0; i < list.Length(); i++) points.push_back(list.Get(i).ToString().Utf8Value()); \
    }                                                                                             \
    uint32_t flags = ArgU32(info, 2);                                                             \
    return IntCall(info.Env(), #cfn, IntResult::Number, [=]() -> long long {                      \
      std::vector<const char*> ptrs;                                                              \
      for (const auto& p : points) ptrs.push_back(p.c_str());                                     \
      return cfn(D(d), ptrs.empty() ? nullptr : ptrs.data(), ptrs.size(), flags);                 \
    });                                                                                           \
  }

DOM_FS(DomainFSFreeze, virDomainFSFreeze)
DOM_FS(DomainFSThaw, virDomainFSThaw)

// One guest agent command (libvirt-qemu), its JSON reply; `timeout` in seconds (-2 default, -1 forever).
VB_FN(DomainQemuAgentCommand) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainQemuAgentCommand");
  auto cmd = ArgStr(info, 1);
  int32_t timeout = ArgI32(info, 2);
  uint32_t flags = ArgU32(info, 3);
  return StrCall(info.Env(), "virDomainQemuAgentCommand",
                 [=] { return virDomainQemuAgentCommand(D(d), cmd.c_str(), timeout, flags); });
}

// How long libvirt waits for the agent's answer (seconds; -2 libvirt's default, -1 forever, 0 not at all).
VB_FN(DomainAgentSetResponseTimeout) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainAgentSetResponseTimeout");
  int32_t timeout = ArgI32(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return IntCall(info.Env(), "virDomainAgentSetResponseTimeout", IntResult::Undefined,
                 [=]() -> long long { return virDomainAgentSetResponseTimeout(D(d), timeout, flags); });
}

// ---- checkpoints

VB_FN(DomainCheckpointCreateXML) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainCheckpointCreateXML");
  auto xml = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return HandleCall(info.Env(), "virDomainCheckpointCreateXML", Kind::Checkpoint,
                    [=]() -> void* { return virDomainCheckpointCreateXML(D(d), xml.c_str(), flags); });
}

VB_FN(DomainListAllCheckpoints) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainListAllCheckpoints");
  uint32_t flags = ArgU32(info, 1);
  return ListCall(info.Env(), "virDomainListAllCheckpoints", Kind::Checkpoint, [=](void*** out) {
    return virDomainListAllCheckpoints(D(d), reinterpret_cast<virDomainCheckpointPtr**>(out), flags);
  });
}

VB_FN(DomainCheckpointLookupByName) {
  auto d = RefOf(info, 0, Kind::Domain, "virDomainCheckpointLookupByName");
  auto name = ArgStr(info, 1);
  uint32_t flags = ArgU32(info, 2);
  return HandleCall(info.Env(), "virDomainCheckpointLookupByName", Kind::Checkpoint,
                    [=]() -> void* { return virDomainCheckpointLookupByName(D(d), name.c_str(), flags); });
}

VB_FN(DomainCheckpointGetName) {
  auto c = RefOf(info, 0, Kind::Checkpoint, "virDomainCheckpointGetName");
  return ConstStrCall(info.Env(), "virDomainCheckpointGetName", [c] { return virDomainCheckpointGetName(CP(c)); });
}

VB_FN(DomainCheckpointGetXMLDesc) {
  auto c = RefOf(info, 0, Kind::Checkpoint, "virDomainCheckpointGetXMLDesc");
  uint32_t flags = ArgU32(info, 1);
  return StrCall(info.Env(), "virDomainCheckpointGetXMLDesc",
                 [=] { return virDomainCheckpointGetXMLDesc(CP(c), flags); });
}

VB_FN(DomainCheckpointDelete) {
  auto c = RefOf(info, 0, Kind::Checkpoint, "virDomainCheckpointDelete");
  uint32_t flags = ArgU32(info, 1);
  return IntCall(info.Env(), "virDomainCheckpointDelete", IntResult::Undefined,
                 [=]() -> long long { return virDomainCheckpointDelete(CP(c), flags); });
}

VB_FN(DomainCheckpointGetParent) {
  auto c = RefOf(info, 0, Kind::Checkpoint, "virDomainCheckpointGetParent");
  return HandleCall(info.Env(), "virDomainCheckpointGetParent", Kind::Checkpoint,
                    [=]() -> void* { return virDomainCheckpointGetParent(CP(c), 0); });
}

VB_FN(DomainCheckpointListAllChildren) {
  auto c = RefOf(info, 0, Kind::Checkpoint, "virDomainCheckpointListAllChildren");
  uint32_t flags = ArgU32(info, 1);
  return ListCall(info.Env(), "virDomainCheckpointListAllChildren", Kind::Checkpoint, [=](void*** out) {
    return virDomainCheckpointListAllChildren(CP(c), reinterpret_cast<virDomainCheckpointPtr**>(out), flags);
  });
}

static Registrar reg({
    {"domainUndefineFlags", DomainUndefineFlags, {"virDomainUndefineFlags"}},
    {"domainCreateWithFlags", DomainCreateWithFlags, {"virDomainCreateWithFlags"}},
    {"domainDestroyFlags", DomainDestroyFlags, {"virDomainDestroyFlags"}},
    {"domainResume", DomainResume, {"virDomainResume"}},
    {"domainSuspend", DomainSuspend, {"virDomainSuspend"}},
    {"domainIsActive", DomainIsActive, {"virDomainIsActive"}},
    {"domainIsPersistent", DomainIsPersistent, {"virDomainIsPersistent"}},
    {"domainAbortJob", DomainAbortJob, {"virDomainAbortJob"}},
    {"domainAbortJobFlags", DomainAbortJobFlags, {"virDomainAbortJobFlags"}},
    {"domainGetID", DomainGetID, {"virDomainGetID"}},
    {"domainGetName", DomainGetName, {"virDomainGetName"}},
    {"domainGetUUIDString", DomainGetUUIDString, {"virDomainGetUUIDString"}},
    {"domainGetXMLDesc", DomainGetXMLDesc, {"virDomainGetXMLDesc"}},
    {"domainGetState", DomainGetState, {"virDomainGetState"}},
    {"domainGetInfo", DomainGetInfo, {"virDomainGetInfo"}},
    {"domainGetBlockInfo", DomainGetBlockInfo, {"virDomainGetBlockInfo"}},
    {"domainGetBlockJobInfo", DomainGetBlockJobInfo, {"virDomainGetBlockJobInfo"}},
    {"domainBlockPull", DomainBlockPull, {"virDomainBlockPull"}},
    {"domainBlockJobSetSpeed", DomainBlockJobSetSpeed, {"virDomainBlockJobSetSpeed"}},
    {"domainBlockJobAbort", DomainBlockJobAbort, {"virDomainBlockJobAbort"}},
    {"domainGetJobStats", DomainGetJobStats, {"virDomainGetJobStats", "virTypedParamsFree"}},
    {"domainBackupBegin", DomainBackupBegin, {"virDomainBackupBegin"}},
    {"domainBackupGetXMLDesc", DomainBackupGetXMLDesc, {"virDomainBackupGetXMLDesc"}},
    {"domainQemuMonitorCommand", DomainQemuMonitorCommand, {"virDomainQemuMonitorCommand"}},
    {"domainFSFreeze", DomainFSFreeze, {"virDomainFSFreeze"}},
    {"domainQemuAgentCommand", DomainQemuAgentCommand, {"virDomainQemuAgentCommand"}},
    {"domainFSThaw", DomainFSThaw, {"virDomainFSThaw"}},
    {"domainAgentSetResponseTimeout", DomainAgentSetResponseTimeout, {"virDomainAgentSetResponseTimeout"}},
    {"domainQemuMonitorCommandWithFiles", DomainQemuMonitorCommandWithFiles,
     {"virDomainQemuMonitorCommandWithFiles"}},
    {"domainCheckpointCreateXML", DomainCheckpointCreateXML, {"virDomainCheckpointCreateXML"}},
    {"domainListAllCheckpoints", DomainListAllCheckpoints, {"virDomainListAllCheckpoints"}},
    {"domainCheckpointLookupByName", DomainCheckpointLookupByName, {"virDomainCheckpointLookupByName"}},
    {"domainCheckpointGetName", DomainCheckpointGetName, {"virDomainCheckpointGetName"}},
    {"domainCheckpointGetXMLDesc", DomainCheckpointGetXMLDesc, {"virDomainCheckpointGetXMLDesc"}},
    {"domainCheckpointDelete", DomainCheckpointDelete, {"virDomainCheckpointDelete"}},
    {"domainCheckpointGetParent", DomainCheckpointGetParent, {"virDomainCheckpointGetParent"}},
    {"domainCheckpointListAllChildren", DomainCheckpointListAllChildren, {"virDomainCheckpointListAllChildren"}},
});

}  // namespace vb
