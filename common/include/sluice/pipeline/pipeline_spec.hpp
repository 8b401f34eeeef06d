#pragma once
// The declaration of every option of the pipeline file. One place, so every daemon can
// validate the whole file and the docs table is generated from the same declarations.
#include <string>

#include "sluice/config/spec.hpp"

namespace sluice::pipeline {

// The spec of the whole pipeline file (built once, immutable, thread-safe to read).
const config::Section& PipelineSpec();

// docs/pipeline-file.md content: every option with type, default, description and example.
std::string PipelineDocsMarkdown();

}  // namespace sluice::pipeline
