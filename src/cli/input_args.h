// Flags that name a model's inputs, shared by `run`, `plan` and `bench`: NAME=VALUE splitting, input
// lookup ("x" and "x:0" are the same input) and `--input-shape NAME=d0,d1,...` parsing, so both
// subcommands accept and reject exactly the same text with the same messages.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/shape.h"
#include "core/status.h"
#include "runtime/model.h"

namespace pbmem::cli {

struct NameValue {
  std::string name;
  std::string value;  // empty when the argument had no '='
  bool has_value = false;
};

// Splits "NAME=VALUE" at the first '=' (TF node names never contain '='). `form` is what the
// error message shows as the expected syntax.
Result<NameValue> split_arg(const std::string& flag, const std::string& text, bool value_required,
                            const char* form);

// "'x' (float [?,224,224,3])".
std::string describe_spec(const TensorSpec& spec);

// "the model's inputs are: 'x' (float [?,6]), ..." (or "the model has no inputs").
std::string list_inputs(const Model& model);

// The input a flag names: a Placeholder (model.inputs()) or a PlaceholderWithDefault. The
// returned spec's name is the node name (without ":0").
Result<TensorSpec> find_input(const Model& model, const std::string& flag,
                              const std::string& name);

// Every `--input-shape NAME=d0,d1,...`: each must name an input once, give concrete dims and agree
// with the graph's known rank and dims. Keyed by the input's node name.
Result<std::map<std::string, Shape>> parse_input_shapes(const Model& model,
                                                        const std::vector<std::string>& texts);

// `--batch N` as typed: a plain decimal number in [1, 2^63) (CLI11 would saturate
// "99999999999999999999").
Result<int64_t> parse_batch_flag(const std::string& text);

// True when some required input (no default) has an unknown first dim: --batch applies to it.
bool has_unknown_batch(const Model& model);

// --batch N: every required input (no default) whose first dim is unknown gets N there, unless
// `shapes` (from --input-shape) already has its shape. Fails when no input has an unknown
// first dim. Other unknown dims stay unknown (Session::plan then says which input needs a
// concrete shape).
Status apply_batch(const Model& model, int64_t batch, std::map<std::string, Shape>* shapes);

}  // namespace pbmem::cli
