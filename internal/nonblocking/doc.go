// Package nonblocking marks the inboxes whose calls never wait (the memory
// inbox), so that the listener, whoever made them, skips the store
// timeout's timer for them and acks their events inline. The mark is
// sealed: only a type that embeds Mark carries it, and no exported
// identifier of ours shows it.
package nonblocking

// Mark, embedded in an inbox's type, marks it as never blocking.
type Mark struct{}

func (Mark) nonBlocking() {}

// Is reports whether v's type embeds Mark.
func Is(v any) bool {
	_, ok := v.(interface{ nonBlocking() })
	return ok
}
