// Package docs holds labops' documentation: the architecture page
// (architecture.md) and the metrics reference (metrics.md). Its tests keep
// them true: metrics.md is generated from the collectors the code registers
// (go test ./docs -update rewrites it), every Mermaid diagram is rendered by
// the real mermaid in headless Chromium, and every relative link resolves.
package docs
