package boltinbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
)

// recordVersion is the first byte of every stored message, so a later format
// can be told apart from this one.
const recordVersion = 1

// errBadRecord reports a stored message that does not decode: the file was
// altered by something other than this package.
var errBadRecord = errors.New("boltinbox: corrupt message record")

// record is a message as stored. Lease is kept after an ack so that an ack
// repeated with the completing lease is recognised (Ack is idempotent); the
// Message handed to callers carries a lease only while it is claimed.
type record struct {
	seq uint64 // arrival order, to break ties between equal times
	msg inbox.Message
}

var states = [...]inbox.State{inbox.StatePending, inbox.StateClaimed, inbox.StateDone, inbox.StateDead}

func stateCode(s inbox.State) byte {
	for i, v := range states {
		if v == s {
			return byte(i)
		}
	}
	return 0
}

func (r *record) encode() []byte {
	m := &r.msg
	return r.appendTo(make([]byte, 0, 64+len(m.ID)+len(m.JobKey)+len(m.Body)+len(m.Scheme)+len(m.LastError)+len(m.Lease)))
}

// appendTo appends the record's encoding to b.
func (r *record) appendTo(b []byte) []byte {
	m := &r.msg
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, r.seq)
	b = appendBytes(b, []byte(m.ID))
	b = appendBytes(b, []byte(m.JobKey))
	b = appendBytes(b, m.Body)
	b = appendBytes(b, []byte(m.Scheme))
	flags := byte(0)
	if m.Synthesized {
		flags = 1
	}
	b = append(b, flags, stateCode(m.State))
	b = binary.AppendUvarint(b, uint64(m.Attempts))
	b = appendTime(b, m.ReceivedAt)
	b = appendTime(b, m.NotBefore)
	b = appendBytes(b, []byte(m.LastError))
	b = appendBytes(b, []byte(m.Lease))
	b = appendTime(b, m.LeaseUntil)
	b = appendTime(b, m.FinishedAt)
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendTime stores a presence byte and Unix nanoseconds, so the zero time
// and the Unix epoch stay distinct.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads a record field by field and remembers the first error, so
// decodeRecord reads straight through.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errBadRecord
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		v, n := binary.Varint(d.b)
		if n <= 0 {
			d.fail()
			return time.Time{}
		}
		d.b = d.b[n:]
		return time.Unix(0, v).UTC()
	default:
		d.fail()
		return time.Time{}
	}
}

// decodeRecord parses a stored message. The bytes come from the file, which
// something else may have written, so every length is checked.
func decodeRecord(b []byte) (*record, error) {
	d := &decoder{b: b}
	if v := d.byte(); v != recordVersion && d.err == nil {
		return nil, fmt.Errorf("%w: unknown record version %d", errBadRecord, v)
	}
	r := &record{seq: d.uint64()}
	m := &r.msg
	m.ID = string(d.bytes())
	m.JobKey = string(d.bytes())
	m.Body = d.bytes()
	m.Scheme = string(d.bytes())
	flags := d.byte()
	st := d.byte()
	m.Attempts = int(d.uvarint())
	m.ReceivedAt = d.time()
	m.NotBefore = d.time()
	m.LastError = string(d.bytes())
	m.Lease = string(d.bytes())
	m.LeaseUntil = d.time()
	m.FinishedAt = d.time()
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 || flags > 1 || int(st) >= len(states) || m.Attempts < 0 || m.ID == "" {
		return nil, errBadRecord
	}
	m.Synthesized = flags == 1
	m.State = states[st]
	return r, nil
}

// public returns the message as callers see it: a copy, with the lease only
// while it is claimed.
func (r *record) public() *inbox.Message {
	m := r.msg
	if m.State != inbox.StateClaimed {
		m.Lease = ""
		m.LeaseUntil = time.Time{}
	}
	return &m
}

// Index keys sort by time, then arrival order. Times are biased so that
// negative Unix nanoseconds still sort before positive ones.
func timeKey(t time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano())^(1<<63))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k)^(1<<63)))
}

func (r *record) readyKey() []byte { return timeKey(r.msg.ReceivedAt, r.seq) }
func (r *record) deadKey() []byte  { return timeKey(r.msg.FinishedAt, r.seq) }
