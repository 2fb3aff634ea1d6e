// Package inbox defines where a webhook listener keeps deliveries between the
// 2xx it answers and the handler run that follows.
//
// An [Inbox] is the queue: it stores each delivery keyed by its webhook-id
// before the listener acknowledges it, so a retried delivery is recognised
// as a duplicate and an acknowledged one is not lost while a worker is busy
// or the process restarts; workers claim messages with a lease, then ack,
// retry or dead-letter them. [Admin] is the same storage as a console or a
// CLI sees it: pages of messages, counts, requeue. A [Store] is both.
//
// [NewMemory] returns a Store in process memory (fast, but it loses queued
// events on a crash); inbox/boltinbox (one node, on disk) and inbox/pginbox
// (PostgreSQL, shared by a fleet) open one beside a job ledger.
// inbox/inboxtest is the conformance suite every implementation passes.
//
//	ib, err := inbox.NewMemory(&inbox.MemoryConfig{Capacity: 100_000})
//	...
//	l, err := listener.New(verifier, &listener.Config{Inbox: ib})
package inbox
