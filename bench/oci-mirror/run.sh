#!/usr/bin/env bash
# Installs the competitor tools if missing (idempotent), then runs the benchmark.
# Usage: bench/oci-mirror/run.sh [bench flags...]   e.g. -runs 3 -repos 20 -tags 10
set -uo pipefail
cd "$(dirname "$0")/../.."
GOBIN="$(go env GOPATH)/bin"
export PATH="$GOBIN:$PATH"

have() { command -v "$1" >/dev/null 2>&1; }

if ! have skopeo; then
  echo "run.sh: installing skopeo" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y skopeo >/dev/null || echo "run.sh: skopeo install failed; the bench will skip it" >&2
fi
if ! have crane; then
  echo "run.sh: installing crane" >&2
  go install github.com/google/go-containerregistry/cmd/crane@v0.22.1 || echo "run.sh: crane install failed; the bench will skip it" >&2
fi
if ! have regctl; then
  echo "run.sh: installing regctl" >&2
  go install github.com/regclient/regclient/cmd/regctl@v0.11.1 || echo "run.sh: regctl install failed; the bench will skip it" >&2
fi
if ! have docker-registry; then
  echo "run.sh: docker-registry (Debian package docker-registry) is required" >&2
  exit 2
fi

exec go run ./bench/oci-mirror "$@"
