// Package inboxtest is the conformance suite that every [inbox.Inbox]
// implementation passes. A store's tests call [Run] with a function that
// opens a new, empty inbox reading time from the given clock:
//
//	func TestConformance(t *testing.T) {
//		inboxtest.Run(t, func(t *testing.T, clock func() time.Time) inbox.Inbox {
//			ib := inbox.NewMemory(inbox.WithClock(clock))
//			t.Cleanup(func() { ib.Close() })
//			return ib
//		})
//	}
//
// The suite drives time only through that clock, which starts at a whole
// second and moves in whole seconds, so stores with coarse timestamps pass.
package inboxtest
