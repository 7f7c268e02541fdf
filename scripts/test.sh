#!/usr/bin/env bash
# The project's test command (README): vet (also of the portable build without assembly, and
# of arm64), the release cross-builds, every test against its real references, then the race detector over the packages
# again (-short leaves out the slow model-sized cases there, which the first pass has already
# run without it), and last each fuzz target for a few seconds (FUZZTIME, default 10s; the
# plain test passes already replay their seed corpora). Minimising each new input costs more
# runs than the short budget has (FuzzRead did 135 runs in 30 s with it, 49,000 in 20 s
# without), so it is off: an input that fails is saved as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
go vet -tags purego ./...
GOARCH=arm64 go vet ./...
scripts/release.sh "$(mktemp -d)" # the four static cross-builds
go test -count=1 ./...
go test -count=1 -race -short -timeout 30m ./...
for target in "FuzzRead ./onnx" "FuzzReadNPY ./data" "FuzzLoadNPZ ./data" "FuzzReadIDX ./data" "FuzzImageFolder ./data" "FuzzParseExpr ./loss"; do
	set -- $target
	go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-10s}" -fuzzminimizetime 0x "$2"
done
