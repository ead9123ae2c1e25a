// Input-naming flags shared by `run` and `plan` (see input_args.h).
#include "cli/input_args.h"

namespace pbmem::cli {

namespace {

constexpr char kDefaultPortSuffix[] = ":0";
constexpr char kInputShapeFlag[] = "--input-shape";

// "x:0" and "x" name the same input.
std::string canonical_input_name(const std::string& name) {
  const std::string suffix = kDefaultPortSuffix;
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return name.substr(0, name.size() - suffix.size());
  }
  return name;
}

Status check_input_shape(const TensorSpec& spec, const Shape& given, const std::string& text) {
  if (!given.fully_defined()) {
    return invalid_argument(kInputShapeFlag, " '", text, "': every dimension must be known");
  }
  if (!spec.shape.known_rank()) return ok_status();
  if (spec.shape.rank() != given.rank()) {
    return invalid_argument(kInputShapeFlag, " '", text, "': input ", describe_spec(spec),
                            " has rank ", spec.shape.rank(), ", the flag gives rank ",
                            given.rank());
  }
  for (int i = 0; i < given.rank(); ++i) {
    if (spec.shape.dim(i) != kUnknownDim && spec.shape.dim(i) != given.dim(i)) {
      return invalid_argument(kInputShapeFlag, " '", text, "': dimension ", i, " of input ",
                              describe_spec(spec), " is ", spec.shape.dim(i), ", the flag gives ",
                              given.dim(i));
    }
  }
  return ok_status();
}

}  // namespace

Result<NameValue> split_arg(const std::string& flag, const std::string& text, bool value_required,
                            const char* form) {
  NameValue out;
  size_t eq = text.find('=');
  out.name = text.substr(0, eq);
  if (eq != std::string::npos) {
    out.value = text.substr(eq + 1);
    out.has_value = true;
  }
  if (out.name.empty() || (out.has_value && out.value.empty()) ||
      (value_required && !out.has_value)) {
    return invalid_argument(flag, " '", text, "' must have the form ", form);
  }
  return out;
}

std::string describe_spec(const TensorSpec& spec) {
  return str_cat("'", spec.name, "' (", dtype_name(spec.dtype), " ", spec.shape.str(), ")");
}

std::string list_inputs(const Model& model) {
  if (model.inputs().empty()) return "the model has no inputs";
  std::string list = "the model's inputs are: ";
  for (size_t i = 0; i < model.inputs().size(); ++i) {
    list += (i ? ", " : "") + describe_spec(model.inputs()[i]);
  }
  return list;
}

Result<TensorSpec> find_input(const Model& model, const std::string& flag,
                              const std::string& name) {
  std::string canonical = canonical_input_name(name);
  for (const TensorSpec& spec : model.inputs()) {
    if (spec.name == canonical) return spec;
  }
  int index = model.graph().find(canonical);
  if (index >= 0 && model.graph().node(index).op == "PlaceholderWithDefault") {
    TensorSpec spec{canonical, DType::kInvalid, Shape::unknown_rank(), true};
    const auto& outs = model.infos()[static_cast<size_t>(index)];
    if (!outs.empty()) {
      spec.dtype = outs[0].dtype;
      spec.shape = outs[0].shape;
    }
    return spec;
  }
  return not_found(flag, ": '", name, "' is not an input of '", model.path(), "'; ",
                   list_inputs(model));
}

Result<std::map<std::string, Shape>> parse_input_shapes(const Model& model,
                                                        const std::vector<std::string>& texts) {
  std::map<std::string, Shape> shapes;
  for (const std::string& text : texts) {
    PBMEM_ASSIGN_OR_RETURN(NameValue arg, split_arg(kInputShapeFlag, text, true, "NAME=d0,d1,..."));
    PBMEM_ASSIGN_OR_RETURN(TensorSpec spec, find_input(model, kInputShapeFlag, arg.name));
    auto shape = parse_shape(arg.value);
    if (!shape.ok()) return shape.status().with_context(str_cat(kInputShapeFlag, " '", text, "'"));
    PBMEM_RETURN_IF_ERROR(check_input_shape(spec, *shape, text));
    if (!shapes.emplace(spec.name, *shape).second) {
      return invalid_argument(kInputShapeFlag, ": input '", spec.name, "' is given twice");
    }
  }
  return shapes;
}

Result<int64_t> parse_batch_flag(const std::string& text) {
  constexpr int64_t kBase = 10;
  int64_t value = 0;
  bool valid = !text.empty();
  for (char c : text) {
    if (c < '0' || c > '9' || __builtin_mul_overflow(value, kBase, &value) ||
        __builtin_add_overflow(value, static_cast<int64_t>(c - '0'), &value)) {
      valid = false;
      break;
    }
  }
  if (!valid || value < 1) {
    return invalid_argument("--batch must be an integer in [1, 2^63), got '", text, "'");
  }
  return value;
}

static bool has_unknown_first_dim(const TensorSpec& spec) {
  return !spec.has_default && spec.shape.known_rank() && spec.shape.rank() > 0 &&
         spec.shape.dim(0) == kUnknownDim;
}

bool has_unknown_batch(const Model& model) {
  for (const TensorSpec& spec : model.inputs()) {
    if (has_unknown_first_dim(spec)) return true;
  }
  return false;
}

Status apply_batch(const Model& model, int64_t batch, std::map<std::string, Shape>* shapes) {
  if (!has_unknown_batch(model)) {
    return invalid_argument("--batch ", batch, ": no input of '", model.path(),
                            "' has an unknown first dimension (", list_inputs(model),
                            "); give shapes with --input-shape NAME=d0,d1,... instead");
  }
  for (const TensorSpec& spec : model.inputs()) {
    if (!has_unknown_first_dim(spec) || shapes->count(spec.name)) continue;
    Shape shape = spec.shape;
    shape.dim(0) = batch;
    (*shapes)[spec.name] = shape;
  }
  return ok_status();
}

}  // namespace pbmem::cli
