// Package harness runs the comparisons behind BENCHMARKS.md in one process: signature verification
// against the Standard Webhooks reference and svix, listener throughput and ack latency against a bare
// net/http handler under an open-loop load, and push against polling through the emulator. It renders
// Markdown tables and SVG charts; cmd/report writes them into BENCHMARKS.md and docs/.
//
//	res, err := harness.Run(ctx, harness.Quick())
//	doc = harness.Splice(doc, res.Sections())
package harness
