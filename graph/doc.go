// Package graph holds onnxtune's in-memory model: a Graph of Nodes over named values, the
// edits that change it (Namer for fresh names, AddInitializer, AddOutput to compute new
// outputs after the existing ones, PrependInput to preprocess before an input), the registry
// that maps an ONNX operator and opset to its forward kernel, and the Plan that runs a Graph
// (and counts the FLOPs of a run, Plan.CountFLOPs).
//
// graph knows nothing of protobuf: package onnx imports a ModelProto into a Graph and exports
// an edited Graph back over it, so every model edit is made here.
package graph
