// Package faulttest is the fault suite behind the project's no-loss claim: it crashes listeners
// (SIGKILL at each failpoint, with bbolt and PostgreSQL inboxes), takes the store and the JWKS
// endpoint away and back, rotates keys, floods unknown kids, storms duplicates across replicas,
// skews clocks to the tolerance edges, redelivers 24 hours later under a fake clock and sends
// hostile input, while a retrying sender keeps delivering as Gemini does.
//
// Every scenario ends with a line such as
//
//	faulttest crash/bbolt/before-commit: sent=60 acked=60 processed=60 processed_twice=0 lost=0
//
// and fails unless lost is 0. It holds only tests: a reduced size by default, full size by flag:
//
//	go test -race ./internal/faulttest                          # CI size
//	go test -v ./internal/faulttest -args -faulttest.full       # full size, scenario lines shown
//
// PostgreSQL scenarios read GEMINIHOOKS_TEST_POSTGRES and skip without it.
package faulttest
