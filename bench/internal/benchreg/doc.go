// Package benchreg is what the registry benchmarks under bench/ share: a
// throwaway registry:2 (Debian's docker-registry, distribution 2.8) on
// loopback with its pid for /proc CPU accounting, and a deterministic
// population of images and multi-platform indexes pushed to it over the
// HTTP API.
package benchreg
