// Package graph holds onnxtune's in-memory model: a Graph of Nodes over named values, the
// registry that maps an ONNX operator and opset to its forward kernel, and (from the engine
// issue on) the Plan that runs a Graph.
//
// graph knows nothing of protobuf: package onnx imports ModelProto into a Graph.
package graph
