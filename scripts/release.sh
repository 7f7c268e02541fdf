#!/usr/bin/env bash
# Static release binaries (CGO_ENABLED=0) for linux/amd64, linux/arm64, darwin/arm64 and
# windows/amd64, into DIR (default dist/): onnxtune-OS-ARCH[.exe]. Only Go is needed; the
# amd64 builds use the assembly kernels, the others the portable Go ones.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
mkdir -p "$out"
for target in linux/amd64 linux/arm64 darwin/arm64 windows/amd64; do
	os="${target%/*}" arch="${target#*/}"
	exe=""
	[ "$os" = windows ] && exe=".exe"
	CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -ldflags "-s -w" -o "$out/onnxtune-$os-$arch$exe" ./cmd/onnxtune
	echo "built $out/onnxtune-$os-$arch$exe"
done
