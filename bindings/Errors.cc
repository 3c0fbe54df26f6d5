// See Errors.h.
#include "Errors.h"

namespace parm_bind {
AddonData* Data(Napi::Env env) {
  AddonData* d = env.GetInstanceData<AddonData>();
  if (!d) {
    d = new AddonData();
    env.SetInstanceData(d);
  }
  return d;
}

namespace {
[[noreturn]] void ThrowWithCode(Napi::Error err) {
  err.Set("code", Napi::String::New(err.Env(), "PARM_ERR_CODEC_ARGUMENT"));
  throw err;
}
}  // namespace

void SetErrorClass(Napi::Env env, Napi::Function ctor) {
  Data(env)->parm_error = Napi::Persistent(ctor);
}

void ThrowType(Napi::Env env, const std::string& msg) { ThrowWithCode(Napi::TypeError::New(env, msg)); }
void ThrowRange(Napi::Env env, const std::string& msg) { ThrowWithCode(Napi::RangeError::New(env, msg)); }

Napi::Value StatusError(Napi::Env env, const parm::status& s) {
  const char* code = parm::status_code_name(s.code);
  AddonData* d = Data(env);
  if (!d->parm_error.IsEmpty()) {
    return d->parm_error.New({Napi::String::New(env, code), Napi::String::New(env, s.message)});
  }
  Napi::Error e = Napi::Error::New(env, s.message);
  e.Set("code", Napi::String::New(env, code));
  return e.Value();
}

}  // namespace parm_bind
