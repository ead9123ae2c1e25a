// Byte-size parsing is exact: the number is kept as integer digits and a count of fraction
// digits, multiplied by the unit in 128-bit integers, and must divide back to whole bytes, so
// "1.1GB" is 1100000000 bytes with no floating-point rounding.
#include "core/byte_size.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace pbmem {

namespace {

constexpr int64_t kKilo = 1000;
constexpr int64_t kKibi = 1024;
// Beyond this many significant digits the value cannot fit in int64 whatever the unit.
constexpr int kMaxDigits = 30;
constexpr char kAcceptedForms[] =
    "a whole number of bytes, optionally with a unit: 123456, 512k, 64MB, 1.5G (decimal: "
    "k/KB=1000, M/MB, G/GB, T/TB) or 64MiB, 1.5GiB (binary: KiB=1024, MiB, GiB, TiB)";

struct Unit {
  const char* name;  // lower case
  int64_t multiplier;
};

constexpr Unit kUnits[] = {
    {"", 1},
    {"b", 1},
    {"k", kKilo},
    {"kb", kKilo},
    {"m", kKilo * kKilo},
    {"mb", kKilo * kKilo},
    {"g", kKilo * kKilo * kKilo},
    {"gb", kKilo * kKilo * kKilo},
    {"t", kKilo * kKilo * kKilo * kKilo},
    {"tb", kKilo * kKilo * kKilo * kKilo},
    {"ki", kKibi},
    {"kib", kKibi},
    {"mi", kKibi * kKibi},
    {"mib", kKibi * kKibi},
    {"gi", kKibi * kKibi * kKibi},
    {"gib", kKibi * kKibi * kKibi},
    {"ti", kKibi * kKibi * kKibi * kKibi},
    {"tib", kKibi * kKibi * kKibi * kKibi},
};

constexpr char kUnitSuffixes[][4] = {"B", "KiB", "MiB", "GiB", "TiB"};
constexpr int kNumUnitSuffixes = sizeof(kUnitSuffixes) / sizeof(kUnitSuffixes[0]);
constexpr int kHumanTextBytes = 32;

}  // namespace

Result<int64_t> parse_byte_size(const std::string& text, const ByteSizeOptions& options) {
  auto bad = [&](const std::string& why) {
    return invalid_argument(options.what, ": '", text, "' ", why, "; expected ", kAcceptedForms);
  };
  size_t pos = 0;
  while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  if (pos == text.size()) return bad("is empty");
  if (text[pos] == '-') return bad("is negative");
  if (text[pos] == '+') ++pos;
  // Digits before and after the point, as one integer and the number of fraction digits.
  __int128 mantissa = 0;
  int digits = 0;
  int fraction_digits = 0;
  bool seen_point = false;
  for (; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c == '.') {
      if (seen_point) return bad("has two decimal points");
      seen_point = true;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    if (mantissa == 0 && c == '0' && !seen_point) {
      digits = std::max(digits, 1);
      continue;  // leading zeros
    }
    if (++digits > kMaxDigits) return bad("is too large (more than 2^63-1 bytes)");
    mantissa = mantissa * 10 + (c - '0');
    if (seen_point) ++fraction_digits;
  }
  if (digits == 0) return bad("does not start with a number");
  while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  std::string unit_text;
  for (; pos < text.size(); ++pos) {
    unsigned char c = static_cast<unsigned char>(text[pos]);
    if (std::isspace(c)) break;
    unit_text += static_cast<char>(std::tolower(c));
  }
  while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  if (pos != text.size()) return bad("has text after the unit");
  const Unit* unit = nullptr;
  for (const Unit& u : kUnits) {
    if (unit_text == u.name) unit = &u;
  }
  if (unit == nullptr) return bad("has an unknown unit '" + unit_text + "'");
  __int128 scale = 1;
  for (int i = 0; i < fraction_digits; ++i) scale *= 10;
  __int128 scaled = mantissa * unit->multiplier;  // < 10^30 * 2^40: fits in 128 bits
  if (scaled % scale != 0) return bad("is not a whole number of bytes");
  __int128 bytes = scaled / scale;
  if (bytes > static_cast<__int128>(INT64_MAX)) return bad("is too large (more than 2^63-1 bytes)");
  if (bytes == 0 && !options.allow_zero) return bad("is zero; give a positive size");
  return static_cast<int64_t>(bytes);
}

std::string human_bytes(int64_t bytes) {
  if (bytes < kKibi) return str_cat(bytes, " B");
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= static_cast<double>(kKibi) && unit + 1 < kNumUnitSuffixes) {
    value /= static_cast<double>(kKibi);
    ++unit;
  }
  char text[kHumanTextBytes];
  std::snprintf(text, sizeof(text), "%.1f %s", value, kUnitSuffixes[unit]);
  return text;
}

std::string describe_bytes(int64_t bytes) { return str_cat(human_bytes(bytes), " (", bytes, " bytes)"); }

}  // namespace pbmem
