// Errors raised by the core. The binding turns them into JS TypeError / RangeError / Error with a
// stable `code`; the core itself never sees Node.
#pragma once
#include <stdexcept>
#include <string>

namespace cc {

enum class ErrorKind { Type, Range, Generic };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string code, const std::string& message)
      : std::runtime_error(message), kind_(kind), code_(std::move(code)) {}
  ErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }

 private:
  ErrorKind kind_;
  std::string code_;
};

// Stable error codes, shared with lib/errors.ts.
namespace codes {
inline constexpr const char* kInvalidType = "ERR_CHANNELCONV_INVALID_TYPE";
inline constexpr const char* kInvalidShape = "ERR_CHANNELCONV_INVALID_SHAPE";
inline constexpr const char* kChannelMismatch = "ERR_CHANNELCONV_CHANNEL_MISMATCH";
inline constexpr const char* kInvalidGroups = "ERR_CHANNELCONV_INVALID_GROUPS";
inline constexpr const char* kInvalidOption = "ERR_CHANNELCONV_INVALID_OPTION";
inline constexpr const char* kEmptyOutput = "ERR_CHANNELCONV_EMPTY_OUTPUT";
inline constexpr const char* kTooLarge = "ERR_CHANNELCONV_TOO_LARGE";
inline constexpr const char* kOutMismatch = "ERR_CHANNELCONV_OUT_MISMATCH";
inline constexpr const char* kAlias = "ERR_CHANNELCONV_ALIAS";
inline constexpr const char* kOutOfMemory = "ERR_CHANNELCONV_OUT_OF_MEMORY";
inline constexpr const char* kNoCuda = "ERR_CHANNELCONV_NO_CUDA";
inline constexpr const char* kCuda = "ERR_CHANNELCONV_CUDA";
inline constexpr const char* kDisposed = "ERR_CHANNELCONV_DISPOSED";
inline constexpr const char* kInternal = "ERR_CHANNELCONV_INTERNAL";
inline constexpr const char* kInvalidIsa = "ERR_CHANNELCONV_INVALID_ISA";
}  // namespace codes

[[noreturn]] inline void throw_range(const char* code, const std::string& msg) {
  throw Error(ErrorKind::Range, code, msg);
}

}  // namespace cc
