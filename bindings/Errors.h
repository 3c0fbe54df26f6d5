// The glue's errors: TypeError / RangeError for bad arguments (naming the field, expected vs
// actual) and the one JS error class with a `code` (src/errors.ts ParmError, registered by the
// loader through init()) for every core status.
#pragma once
#include <napi.h>

#include <string>

#include "parm/status.h"

namespace parm_bind {

// Per-environment state of the addon.
struct AddonData {
  Napi::FunctionReference parm_error;     // registered by init()
  Napi::FunctionReference device_buffer;  // the DeviceBuffer class, for instanceof checks
};
AddonData* Data(Napi::Env env);

// Remembers the ParmError constructor for this addon instance.
void SetErrorClass(Napi::Env env, Napi::Function ctor);

[[noreturn]] void ThrowType(Napi::Env env, const std::string& msg);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& msg);
// A JS error object for a core status: new ParmError(code, message), or an Error with `code`.
Napi::Value StatusError(Napi::Env env, const parm::status& s);
inline void Check(Napi::Env env, const parm::status& s) {
  if (!s.ok()) throw Napi::Error(env, StatusError(env, s));
}

}  // namespace parm_bind
