package delivery

import "time"

// DefaultReorderHold is how long a reorder window waits to fill before it
// releases what it holds.
const DefaultReorderHold = 100 * time.Millisecond

// Faults are deliberate misbehaviours for tests and demos. The zero value
// injects nothing. Set them with Engine.SetFaults at any time: each attempt
// reads the faults current when it runs.
type Faults struct {
	// DuplicateRate is the probability, in [0, 1], that Enqueue sends one
	// extra copy of a delivery: the same webhook-id and body in a separate
	// POST, as a sender whose acknowledgement got lost would. The copy is
	// sent once, never retried, not reported to OnOutcome, and spared
	// FailFirst and CutConnection; Delay and Reorder apply to it.
	DuplicateRate float64
	// Delay holds every attempt this long (on the engine's clock, not
	// scaled) before it is sent.
	Delay time.Duration
	// Reorder, when 2 or more, holds new deliveries until that many have
	// arrived, or ReorderHold has passed since the first, and then releases
	// them in shuffled order.
	Reorder int
	// ReorderHold defaults to DefaultReorderHold. Not scaled.
	ReorderHold time.Duration
	// FailFirst fails the first FailFirst attempts of every delivery without
	// contacting the endpoint: the attempt is logged as an injected 503 and
	// retried like a real one.
	FailFirst int
	// FailNext fails the next FailNext attempts that would otherwise be
	// sent, across all deliveries, the way FailFirst does (a synthetic 503,
	// the endpoint not contacted, retried), and then stops: each such
	// attempt uses one up. It is a one-shot budget, so a test or demo can
	// inject exactly N failures on top of the per-delivery faults, whatever
	// the number of deliveries; SetFaults replaces what is left of it.
	// Duplicates are spared, as they are never retried.
	FailNext int
	// CutConnection cuts the connection on the next CutConnection attempts
	// of every delivery, after any FailFirst ones: the engine sends the
	// headers and half the body, then closes the connection, so the receiver
	// reads an unexpected EOF. The attempt fails and is retried.
	CutConnection int
}

// Fault names an injected fault in the attempt log.
type Fault string

// The faults an Attempt can carry.
const (
	FaultDuplicate Fault = "duplicate" // an extra copy of a delivery
	FaultDelay     Fault = "delay"     // held for Faults.Delay before sending
	FaultReorder   Fault = "reorder"   // held in a reorder window
	FaultFail      Fault = "fail"      // answered with a synthetic 503, endpoint not contacted
	FaultCut       Fault = "cut"       // connection closed mid-body
)
