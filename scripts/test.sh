#!/usr/bin/env bash
# The project's test command (README): vet (also of the portable build without assembly, and
# of arm64), the release cross-builds, every test against its real references, then the race detector over the packages
# again (-short leaves out the slow model-sized cases there, which the first pass has already
# run without it), and last each fuzz target for a few seconds (the plain test passes already
# replay their seed corpora). The budgets are counts of inputs, about ten seconds of each
# target on a 2-core machine, not durations: Go 1.26's fuzzing coordinator can report a
# spurious "context deadline exceeded" when a duration runs out (go.dev/issue/75804, fixed in
# Go 1.27). FUZZTIME, when set, replaces every budget (a count such as 500000x, or a
# duration). Minimising each new input costs more runs than the short budget has (FuzzRead
# did 135 runs in 30 s with it, 49,000 in 20 s without), so it is off: an input that fails is
# saved as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
go vet -tags purego ./...
GOARCH=arm64 go vet ./...
scripts/release.sh "$(mktemp -d)" # the four static cross-builds
go test -count=1 ./...
go test -count=1 -race -short -timeout 30m ./...
for target in "FuzzRead ./onnx 80000x" "FuzzReadNPY ./data 200000x" "FuzzLoadNPZ ./data 12000x" \
	"FuzzReadIDX ./data 200000x" "FuzzImageFolder ./data 10000x" "FuzzParseExpr ./loss 200000x"; do
	set -- $target
	go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-$3}" -fuzzminimizetime 0x "$2"
done
