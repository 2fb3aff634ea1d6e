// Package signingbench compares the signing package with the Standard Webhooks reference library
// (github.com/standard-webhooks/standard-webhooks/libraries v0.0.1) and with the cryptographic floor of
// each scheme, in the same run. It holds only tests and benchmarks:
//
//	cd bench && go test -run '^$' -bench . -benchmem -count 5 ./signingbench
//
// Its tests check that both libraries agree on signatures, so the comparison compares like with like.
package signingbench
