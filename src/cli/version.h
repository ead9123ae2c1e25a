// The version string shared by `pbmem --version` and the Python module's __version__; keep it in
// step with project(VERSION) in CMakeLists.txt.
#pragma once

namespace pbmem {

inline constexpr char kPbmemVersion[] = "0.1.0";

}  // namespace pbmem
