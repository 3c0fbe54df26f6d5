// The PARM_ERR_CODEC_* name of every status code: the codes the glue puts on JS errors, which
// must match the table in src/errors.ts (test/native/codec-status-names.test.ts checks both ways).
// Built with -Werror=switch: a status code without a name here does not compile.
#include "parm/status.h"

namespace parm {

const char* status_code_name(status_code c) {
  switch (c) {
    case status_code::ok: return "OK";
    case status_code::invalid_argument: return "PARM_ERR_CODEC_ARGUMENT";
    case status_code::singular: return "PARM_ERR_CODEC_SINGULAR";
    case status_code::unsupported: return "PARM_ERR_CODEC_UNSUPPORTED";
    case status_code::cuda_error: return "PARM_ERR_CODEC_CUDA";
    case status_code::no_device: return "PARM_ERR_CODEC_NO_DEVICE";
    case status_code::out_of_memory: return "PARM_ERR_CODEC_OUT_OF_MEMORY";
  }
  // Only a value cast from an integer outside the enumeration gets here; the core never makes one.
  return "PARM_ERR_CODEC_ARGUMENT";
}

}  // namespace parm
