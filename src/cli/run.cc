// `pbmem run MODEL --input NAME=FILE.npy ... [--output NAME[=FILE.npy] ...] [--output-dir DIR]
// [--input-shape NAME=d0,d1,...] [--threads N]`.
//
// Every flag is validated before the model runs, and output files are written only after the
// whole run succeeded, so a failure never leaves a partial set of outputs behind.
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "cli/commands.h"
#include "io/npy.h"
#include "runtime/model.h"

namespace pbmem::cli {

namespace {

namespace fs = std::filesystem;

constexpr char kDefaultPortSuffix[] = ":0";

struct NameValue {
  std::string name;
  std::string value;  // empty when the argument had no '='
  bool has_value = false;
};

// Splits "NAME=VALUE" at the first '=' (TF node names never contain '=').
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

// "x:0" and "x" name the same input.
std::string canonical_input_name(const std::string& name) {
  const std::string suffix = kDefaultPortSuffix;
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return name.substr(0, name.size() - suffix.size());
  }
  return name;
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

// The input a flag names: a Placeholder (model.inputs()) or a PlaceholderWithDefault.
Result<TensorSpec> find_input(const Model& model, const std::string& flag,
                              const std::string& name) {
  std::string canonical = canonical_input_name(name);
  for (const TensorSpec& spec : model.inputs()) {
    if (spec.name == canonical) return spec;
  }
  int index = model.graph().find(canonical);
  if (index >= 0 && model.graph().node(index).op == "PlaceholderWithDefault") {
    TensorSpec spec{canonical, DType::kInvalid, Shape::unknown_rank()};
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

// "conv/out:1" -> "conv_out_1", a safe file name.
std::string sanitize(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (c == '/' || c == ':') c = '_';
  }
  return out;
}

Status check_input_shape(const TensorSpec& spec, const Shape& given, const std::string& text) {
  if (!given.fully_defined()) {
    return invalid_argument("--input-shape '", text, "': every dimension must be known");
  }
  if (!spec.shape.known_rank()) return ok_status();
  if (spec.shape.rank() != given.rank()) {
    return invalid_argument("--input-shape '", text, "': input ", describe_spec(spec), " has rank ",
                            spec.shape.rank(), ", the flag gives rank ", given.rank());
  }
  for (int i = 0; i < given.rank(); ++i) {
    if (spec.shape.dim(i) != kUnknownDim && spec.shape.dim(i) != given.dim(i)) {
      return invalid_argument("--input-shape '", text, "': dimension ", i, " of input ",
                              describe_spec(spec), " is ", spec.shape.dim(i), ", the flag gives ",
                              given.dim(i));
    }
  }
  return ok_status();
}

struct Feeds {
  std::map<std::string, Tensor> tensors;  // by canonical input name
  std::map<std::string, Shape> shapes;    // --input-shape, by canonical input name
};

Result<Feeds> read_feeds(const Model& model, const RunArgs& args) {
  Feeds feeds;
  for (const std::string& text : args.input_shapes) {
    PBMEM_ASSIGN_OR_RETURN(NameValue arg, split_arg("--input-shape", text, true, "NAME=d0,d1,..."));
    PBMEM_ASSIGN_OR_RETURN(TensorSpec spec, find_input(model, "--input-shape", arg.name));
    auto shape = parse_shape(arg.value);
    if (!shape.ok()) return shape.status().with_context("--input-shape '" + text + "'");
    PBMEM_RETURN_IF_ERROR(check_input_shape(spec, *shape, text));
    if (!feeds.shapes.emplace(spec.name, *shape).second) {
      return invalid_argument("--input-shape: input '", spec.name, "' is given twice");
    }
  }
  for (const std::string& text : args.inputs) {
    PBMEM_ASSIGN_OR_RETURN(NameValue arg, split_arg("--input", text, true, "NAME=FILE.npy"));
    PBMEM_ASSIGN_OR_RETURN(TensorSpec spec, find_input(model, "--input", arg.name));
    if (feeds.tensors.count(spec.name)) {
      return invalid_argument("--input: input '", spec.name, "' is given twice");
    }
    auto tensor = read_npy(arg.value);
    if (!tensor.ok()) return tensor.status().with_context("--input " + text);
    if (spec.dtype != DType::kInvalid && tensor->dtype() != spec.dtype) {
      return invalid_argument("--input ", text, ": file '", arg.value, "' holds ",
                              dtype_name(tensor->dtype()), " ", tensor->shape().str(),
                              " but input ", describe_spec(spec), " needs ",
                              dtype_name(spec.dtype));
    }
    auto fixed = feeds.shapes.find(spec.name);
    if (fixed != feeds.shapes.end() && fixed->second != tensor->shape()) {
      return invalid_argument("--input ", text, ": file '", arg.value, "' has shape ",
                              tensor->shape().str(), " but --input-shape sets ",
                              fixed->second.str());
    }
    feeds.tensors.emplace(spec.name, std::move(tensor).value());
  }
  return feeds;
}

// Fails, naming the input, when a Placeholder the outputs depend on has no --input.
Status check_required_inputs(const Model& model, const Session& session, const Feeds& feeds) {
  const Graph& graph = model.graph();
  std::vector<int> targets;
  for (const std::string& name : session.output_names()) {
    PBMEM_ASSIGN_OR_RETURN(TensorRef ref, graph.resolve(name));
    targets.push_back(ref.node);
  }
  PBMEM_ASSIGN_OR_RETURN(std::vector<int> order, graph.schedule(targets));
  for (int index : order) {
    const Node& node = graph.node(index);
    if (node.op != "Placeholder" || feeds.tensors.count(node.name)) continue;
    for (const TensorSpec& spec : model.inputs()) {
      if (spec.name == node.name) {
        return invalid_argument("missing input ", describe_spec(spec), ": give it with --input ",
                                node.name, "=FILE.npy");
      }
    }
    return invalid_argument("missing input '", node.name, "': give it with --input ", node.name,
                            "=FILE.npy");
  }
  return ok_status();
}

struct OutputPlan {
  std::vector<std::string> names;            // requested names, in flag order (empty: sinks)
  std::map<std::string, std::string> files;  // output name -> file given with --output NAME=FILE
};

Result<OutputPlan> plan_outputs(const RunArgs& args) {
  OutputPlan plan;
  for (const std::string& text : args.outputs) {
    PBMEM_ASSIGN_OR_RETURN(NameValue arg,
                           split_arg("--output", text, false, "NAME or NAME=FILE.npy"));
    for (const std::string& seen : plan.names) {
      if (seen == arg.name)
        return invalid_argument("--output: output '", arg.name, "' is given twice");
    }
    plan.names.push_back(arg.name);
    if (!arg.has_value) continue;
    fs::path parent = fs::path(arg.value).parent_path();
    std::error_code ec;
    if (!parent.empty() && !fs::is_directory(parent, ec)) {
      return invalid_argument("--output ", text, ": directory '", parent.string(),
                              "' does not exist");
    }
    plan.files[arg.name] = arg.value;
  }
  if (!args.output_dir.empty()) {
    std::error_code ec;
    if (fs::exists(args.output_dir, ec) && !fs::is_directory(args.output_dir, ec)) {
      return invalid_argument("--output-dir '", args.output_dir, "' exists and is not a directory");
    }
  }
  return plan;
}

// Where each output goes: the --output file, else DIR/<sanitized name>.npy, else nowhere.
Result<std::vector<std::pair<std::string, std::string>>> destinations(
    const std::vector<std::string>& names, const OutputPlan& plan, const std::string& output_dir) {
  std::vector<std::pair<std::string, std::string>> out;
  std::map<std::string, std::string> owner;  // normalised path -> output name
  for (const std::string& name : names) {
    std::string path;
    auto file = plan.files.find(name);
    if (file != plan.files.end()) {
      path = file->second;
    } else if (!output_dir.empty()) {
      path = (fs::path(output_dir) / (sanitize(name) + ".npy")).string();
    } else {
      continue;
    }
    std::string key = fs::path(path).lexically_normal().string();
    auto [it, inserted] = owner.emplace(key, name);
    if (!inserted) {
      return invalid_argument("outputs '", it->second, "' and '", name,
                              "' would both be written to '", path, "'");
    }
    out.emplace_back(name, path);
  }
  return out;
}

Status write_outputs(const std::vector<std::pair<std::string, std::string>>& files,
                     const std::map<std::string, Tensor>& results, const std::string& output_dir) {
  if (files.empty()) return ok_status();
  for (const auto& [name, path] : files) {
    const Tensor& t = results.at(name);
    if (!npy_can_store(t.dtype())) {
      return unimplemented("output '", name, "' is ", dtype_name(t.dtype()),
                           ", which cannot be saved as .npy; nothing was written");
    }
  }
  if (!output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(output_dir, ec);
    if (ec) return io_error("--output-dir: cannot create '", output_dir, "': ", ec.message());
  }
  for (const auto& [name, path] : files) {
    Status status = write_npy(results.at(name), path);
    if (!status.ok()) return status.with_context("output '" + name + "'");
    std::printf("wrote %s\n", path.c_str());
  }
  return ok_status();
}

}  // namespace

Status run_command(const RunArgs& args) {
  if (args.threads < 0) {
    return invalid_argument("--threads must be >= 0 (0 = all cores), got ", args.threads);
  }
  PBMEM_ASSIGN_OR_RETURN(OutputPlan plan, plan_outputs(args));
  PBMEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(args.model));
  PBMEM_ASSIGN_OR_RETURN(Feeds feeds, read_feeds(*model, args));

  SessionOptions options;
  options.num_threads = args.threads;
  options.outputs = plan.names;
  options.input_shapes = feeds.shapes;
  PBMEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, options));
  PBMEM_RETURN_IF_ERROR(check_required_inputs(*model, *session, feeds));
  const std::vector<std::string>& names = session->output_names();
  PBMEM_ASSIGN_OR_RETURN(auto files, destinations(names, plan, args.output_dir));

  PBMEM_ASSIGN_OR_RETURN(auto results, session->run(feeds.tensors));
  for (const std::string& name : names) {
    auto it = results.find(name);
    if (it == results.end())
      return internal_error("the session returned no value for output '", name, "'");
    print_tensor_summary(name, it->second);
  }
  return write_outputs(files, results, args.output_dir);
}

}  // namespace pbmem::cli
