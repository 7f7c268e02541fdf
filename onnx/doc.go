// Package onnx turns ONNX model bytes into a ModelProto and back (Load, Read, Save, Write),
// keeping every field of the file, external data included; imports a ModelProto into a
// graph.Graph (Import) and writes an edited graph.Graph back over the model it came from
// (Export); and converts TensorProto values to and from tensor.Tensor.
//
// The protobuf types (ModelProto, GraphProto, NodeProto, TensorProto, ...) are generated from
// the onnx.proto that Debian's libonnx-dev ships; `go generate ./onnx` regenerates them with
// protoc and protoc-gen-go (google.golang.org/protobuf/cmd/protoc-gen-go).
package onnx

//go:generate protoc -I/usr/include/onnx --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/onnxtune/onnxtune/onnx onnx.proto
