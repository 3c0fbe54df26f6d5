// Argument conversion and checking for the glue: every JS value is checked here before a pointer
// reaches the core (a bad pointer is a crash). Errors name the exact field.
#pragma once
#include <napi.h>

#include <cstddef>
#include <string>
#include <vector>

#include "Errors.h"
#include "parm/codec.h"

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
// 'nchw' or 'nhwc'; anything else is a TypeError.
parm::layout AsLayout(Napi::Value v);
// The image group arguments (channels, height, width, layout, rows, cols) at info[at..at+5] for k
// images; rows = cols = 0 picks parm::default_grid(k). The grid is checked against k and the shape.
struct ImageArgs {
  parm::image_shape shape;
  parm::grid g;
};
ImageArgs AsImage(const Napi::CallbackInfo& info, std::size_t at, std::size_t k);
// Optional float32 parameters copied out of JS (so async work does not read a JS array):
// `given` is false for null / undefined.
struct Floats {
  std::vector<float> values;
  bool given = false;
  const float* data() const { return given ? values.data() : nullptr; }
};
// encodeSum's weights: null / undefined, or a Float32Array of k entries.
Floats AsWeights(Napi::Value v, std::size_t k);
// decode's coefficients: an r x k row-major Float32Array, or null / undefined when r == 1.
Floats AsCoefficients(Napi::Value v, std::size_t r, std::size_t k);
// The checks below test inline and build their message (and the argument's name) only when they
// throw: the sync calls run in microseconds, and names like "inputs[3]" cost allocations.
// RangeError "<name> has length <actual>, expected <expected><context>".
[[noreturn]] void ThrowLength(Napi::Env env, const std::string& name, std::size_t actual, std::size_t expected,
                              const std::string& context = "");
// An image of the group: RangeError "<name> has length <actual>, expected channels*height*width = <n>".
[[noreturn]] void ThrowImageLength(Napi::Env env, const std::string& name, std::size_t actual, std::size_t n);
// decode's outs: RangeError unless there is one per missing data output.
void CheckOutCount(Napi::Env env, std::size_t outs, std::size_t missing);
// Whether the memory of two arrays overlaps; ThrowOverlap is the RangeError for it.
bool Overlaps(const F32& a, const F32& b);
[[noreturn]] void ThrowOverlap(Napi::Env env, const std::string& out_name, const std::string& in_name);

}  // namespace parm_bind
