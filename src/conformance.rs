//! Replays ONNX conformance cases (JSON, see `tests/data/onnx/README.md`).
