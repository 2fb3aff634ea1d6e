// Package inbox defines where a webhook listener keeps deliveries between the
// 2xx it answers and the handler run that follows.
//
// An [Inbox] stores each delivery keyed by its webhook-id before the listener
// acknowledges it, so a retried delivery is recognised as a duplicate and an
// acknowledged one is not lost while a worker is busy or the process restarts.
// Workers claim messages with a lease, then ack, retry or dead-letter them.
//
// Implementations: [Memory] in this package (fast, but it loses queued
// events on a crash), inbox/boltinbox (one node, on disk) and inbox/pginbox
// (PostgreSQL, shared by a fleet); all three are also an [Admin], which a
// console or a CLI pages through and replays with. Package inbox/inboxtest
// holds the conformance suites every implementation passes.
package inbox
