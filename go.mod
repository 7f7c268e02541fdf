module github.com/onnxtune/onnxtune

go 1.26.0

require (
	github.com/sbinet/npyio v0.6.0
	github.com/x448/float16 v0.8.4
	golang.org/x/image v0.47.0
	gonum.org/v1/gonum v0.9.3
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/campoy/embedmd v1.0.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
)
