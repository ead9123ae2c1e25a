// Byte sizes as people write them ("64MB", "1.5GiB", "512k", "123456") and as pbmem prints them
// ("64.0 MiB (67108864 bytes)").
//
// Parsing: a decimal number (digits, at most one '.') followed by an optional unit, with
// optional spaces in between. Units are case-insensitive and the trailing "B" is optional:
//   decimal (SI, powers of 1000):  K KB  M MB  G GB  T TB     ("1G" = "1GB" = 10^9 bytes)
//   binary  (IEC, powers of 1024): KiB   MiB   GiB   TiB      ("Ki", "Mi", ... also accepted)
//   none or "B": bytes.
// Decimal for the bare letters follows SI and disk/RAM vendor usage (and `numfmt --from=si`);
// people who mean powers of two write the "i". The result must be a whole number of bytes
// (exactly: "1.5KB" = 1500 is fine, "1.5B" or "1.0001KB" is not), at most INT64_MAX, and
// positive unless zero is explicitly allowed.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace pbmem {

struct ByteSizeOptions {
  // Shown in errors: "--memory-limit: ...".
  std::string what = "size";
  bool allow_zero = false;
};

// Parses `text`; errors name options.what, the text, and the accepted forms.
Result<int64_t> parse_byte_size(const std::string& text, const ByteSizeOptions& options);

// "12.3 MiB" (binary units, one decimal; "512 B" below 1 KiB).
std::string human_bytes(int64_t bytes);
// "12.3 MiB (12897280 bytes)".
std::string describe_bytes(int64_t bytes);

}  // namespace pbmem
