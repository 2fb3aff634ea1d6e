// Package ledgertest is the conformance suite that every [ledger.Ledger]
// passes. A ledger's tests call [Run] with a function that opens a new,
// empty ledger:
//
//	func TestLedgerConformance(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
//			return ledger.NewMemory()
//		})
//	}
//
// A ledger reads no clock: the suite passes every time in, as offsets from
// one fixed instant.
package ledgertest
