// Argument conversion and checking for the glue: every JS value is checked here before a pointer
// reaches the core (a bad pointer is a crash). Errors name the exact field.
#pragma once
#include <napi.h>

#include <cstddef>
#include <string>
#include <vector>

#include "Errors.h"

namespace parm_bind {

struct F32 {
  float* data = nullptr;
  std::size_t length = 0;
  Napi::Object object;  // the typed array, to keep it alive during async work
};

std::string Describe(Napi::Value v);  // "Float64Array", "number", "null", ...
F32 AsF32(Napi::Value v, const std::string& name);
// A non-empty JS array of Float32Array of equal length; label names the argument.
std::vector<F32> AsF32List(Napi::Value v, const std::string& label, bool allow_null = false);
std::size_t AsSize(Napi::Value v, const std::string& name, std::size_t min, std::size_t max);
// Throws RangeError if [a, a+na) and [b, b+nb) overlap.
void CheckNoOverlap(Napi::Env env, const F32& out, const std::string& out_name, const F32& in,
                    const std::string& in_name);

}  // namespace parm_bind
