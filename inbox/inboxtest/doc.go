// Package inboxtest is the conformance suite that every [inbox.Store]
// passes, as a queue ([inbox.Inbox]) and as an admin view ([inbox.Admin]).
// A store's tests call [Run] with a function that opens a new, empty inbox
// reading time from the given clock:
//
//	func TestConformance(t *testing.T) {
//		inboxtest.Run(t, func(t *testing.T, clock func() time.Time) inbox.Store {
//			ib, err := inbox.NewMemory(&inbox.MemoryConfig{Now: clock})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { ib.Close() })
//			return ib
//		})
//	}
//
// The suite drives time only through that clock, which starts at a whole
// second and moves in whole seconds, so stores with coarse timestamps pass.
package inboxtest
