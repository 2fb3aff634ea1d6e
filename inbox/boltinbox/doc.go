// Package boltinbox keeps a listener's inbox, and the job ledger beside it,
// in one bbolt file, for a listener on one machine. Every change is
// committed and fsynced before it returns, with concurrent calls sharing a
// commit, so every delivery answered 2xx survives a crash, SIGKILL or power
// loss. A claim found at Open was made by a process that has let the file
// go, so its event runs again at once. One process may open a file at a
// time (ErrLocked); a damaged or foreign file fails with ErrCorrupt, never a
// panic.
//
//	db, err := boltinbox.Open("/var/lib/app/inbox.db", nil)
//	if err != nil {
//		return err
//	}
//	defer db.Close()
//	l, err := listener.New(verifier, &listener.Config{Inbox: db, Ledger: db.Ledger})
package boltinbox
