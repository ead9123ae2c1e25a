// Status and Result<T>: the error model of pbmem. No exceptions cross the public API; every
// recoverable failure is a Status whose message names the file, node, op, attribute or flag and
// the rule that was broken.
#pragma once

#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace pbmem {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // bad user input: flag, shape, dtype, name
  kNotFound,          // unknown input/output/node name
  kUnimplemented,     // unsupported op, attribute value or dtype
  kOutOfRange,        // sizes that overflow, indices out of range
  kResourceExhausted, // allocation failure or memory limit
  kDataLoss,          // truncated or corrupt file
  kIoError,           // open/read/write failures
  kInternal,          // a pbmem bug
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: <message>"
  std::string to_string() const;
  // Adds context in front of the message: "while loading 'm.pb': <message>".
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return Status(); }

// Concatenates anything streamable into one string: str_cat("node '", name, "' has ", n, " inputs").
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <typename... Args>
Status invalid_argument(const Args&... args) {
  return Status(StatusCode::kInvalidArgument, str_cat(args...));
}
template <typename... Args>
Status not_found(const Args&... args) {
  return Status(StatusCode::kNotFound, str_cat(args...));
}
template <typename... Args>
Status unimplemented(const Args&... args) {
  return Status(StatusCode::kUnimplemented, str_cat(args...));
}
template <typename... Args>
Status out_of_range(const Args&... args) {
  return Status(StatusCode::kOutOfRange, str_cat(args...));
}
template <typename... Args>
Status resource_exhausted(const Args&... args) {
  return Status(StatusCode::kResourceExhausted, str_cat(args...));
}
template <typename... Args>
Status data_loss(const Args&... args) {
  return Status(StatusCode::kDataLoss, str_cat(args...));
}
template <typename... Args>
Status io_error(const Args&... args) {
  return Status(StatusCode::kIoError, str_cat(args...));
}
template <typename... Args>
Status internal_error(const Args&... args) {
  return Status(StatusCode::kInternal, str_cat(args...));
}

// Holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(state_).ok()) {
      state_ = Status(StatusCode::kInternal, "Result constructed from an OK Status without a value");
    }
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(state_);
  }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace pbmem

#define PBMEM_CONCAT_INNER(a, b) a##b
#define PBMEM_CONCAT(a, b) PBMEM_CONCAT_INNER(a, b)

#define PBMEM_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    ::pbmem::Status pbmem_status_ = (expr);         \
    if (!pbmem_status_.ok()) return pbmem_status_;  \
  } while (0)

#define PBMEM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

// PBMEM_ASSIGN_OR_RETURN(auto x, compute());  returns the error Status on failure.
#define PBMEM_ASSIGN_OR_RETURN(lhs, expr) \
  PBMEM_ASSIGN_OR_RETURN_IMPL(PBMEM_CONCAT(pbmem_result_, __LINE__), lhs, expr)
