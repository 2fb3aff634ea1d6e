// Package boltinbox keeps a listener's inbox, and the job ledger beside it,
// in one bbolt file, for a listener running on one machine.
//
// Every Put, Claim, Ack, Retry and DeadLetter is committed and fsynced before
// it returns; calls that arrive while a commit is in progress share the next
// one (group commit). What survives a crash, including SIGKILL or power loss:
// every message Put returned for (so every delivery the listener answered 2xx
// to), its state, attempts and dedupe keys, and every ledger record. A claim
// found when the file is opened was made by a process that has since died or
// closed it (the file lock admits one process at a time), so Open returns it
// to pending at once: its handler runs again as soon as the listener's
// workers start, and handlers must tolerate that. One process may open a
// file at a time; a second Open fails with ErrLocked. A damaged, truncated
// or foreign file fails with ErrCorrupt, never a panic.
//
//	db, err := boltinbox.Open("/var/lib/app/inbox.db", nil)
//	if err != nil {
//		return err
//	}
//	defer db.Close()
//	l, err := listener.New(verifier, &listener.Config{Inbox: db, Ledger: db.Ledger})
package boltinbox
