package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/geminihooks/geminihooks/signing"
)

// drainLimit bounds how much of an answer is read so the connection can be
// reused; endpoints answer with little or nothing.
const drainLimit = 64 << 10

// try makes one attempt and describes it; it does not touch engine state.
// failNext says the attempt drew on the FailNext budget.
func (e *Engine) try(ctx context.Context, j *job, f Faults, failNext bool) Attempt {
	a := Attempt{
		ID:        j.d.ID,
		WebhookID: j.d.WebhookID,
		URI:       j.d.URI,
		Number:    j.attempt,
		Faults:    slices.Clone(j.faults),
		Start:     e.clock.Now(),
	}
	// Started after Start is read, so a timed-out attempt's Latency is at
	// least the timeout.
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	if j.duplicate {
		a.Faults = append([]Fault{FaultDuplicate}, a.Faults...)
	}
	switch {
	case failNext || (!j.duplicate && a.Number <= f.FailFirst):
		a.Faults = append(a.Faults, FaultFail)
		a.StatusCode = http.StatusServiceUnavailable
	case !j.duplicate && a.Number <= f.FailFirst+f.CutConnection:
		a.Faults = append(a.Faults, FaultCut)
		req, err := e.request(ctx, j.d, a.Start)
		if err == nil {
			err = e.cut(ctx, req)
		}
		a.Err = err
	default:
		req, err := e.request(ctx, j.d, a.Start)
		if err == nil {
			a.StatusCode, err = e.send(req)
		}
		a.Err = err
	}
	a.Latency = e.clock.Now().Sub(a.Start)
	a.OK = a.Err == nil && a.StatusCode >= 200 && a.StatusCode < 300
	return a
}

// request builds the signed POST for an attempt starting at ts.
func (e *Engine) request(ctx context.Context, d Delivery, ts time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URI, bytes.NewReader(d.Body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDelivery, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.HeaderID, d.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	if d.Sign != nil {
		sig, err := d.Sign(d.URI, d.ID, ts, d.Body)
		if err != nil {
			// The cause may quote key material, so only its kind is kept.
			return nil, ErrSign
		}
		req.Header.Set(signing.HeaderSignature, sig)
	}
	return req, nil
}

// send POSTs req and returns the status code.
func (e *Engine) send(req *http.Request) (int, error) {
	resp, err := e.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return 0, fmt.Errorf("delivery: post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// cut writes req's headers and half its body on a fresh connection, then
// closes it, so the receiver reads an unexpected EOF. It always returns an
// error: the attempt failed.
func (e *Engine) cut(ctx context.Context, req *http.Request) error {
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return fmt.Errorf("%w: %w", ErrConnectionCut, err)
	}
	raw := buf.Bytes()
	head := bytes.Index(raw, []byte("\r\n\r\n")) + 4
	n := head + (len(raw)-head)/2
	if n == len(raw) {
		n = head / 2 // no body to cut: cut the headers instead
	}
	conn, err := e.dial(ctx, req)
	if err != nil {
		return fmt.Errorf("%w: dial: %w", ErrConnectionCut, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(raw[:n]); err != nil {
		return fmt.Errorf("%w: write: %w", ErrConnectionCut, err)
	}
	return fmt.Errorf("%w after %d of %d bytes", ErrConnectionCut, n, len(raw))
}

// dial opens a connection to req's host the way the client's transport
// would: its dialer and, for https, its TLS settings.
func (e *Engine) dial(ctx context.Context, req *http.Request) (net.Conn, error) {
	t, _ := e.client.Transport.(*http.Transport)
	if t == nil {
		t, _ = http.DefaultTransport.(*http.Transport)
	}
	host := req.URL.Hostname()
	port := req.URL.Port()
	if port == "" {
		port = "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(host, port)
	var conn net.Conn
	var err error
	if t != nil && t.DialContext != nil {
		conn, err = t.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil || req.URL.Scheme != "https" {
		return conn, err
	}
	cfg := &tls.Config{}
	if t != nil && t.TLSClientConfig != nil {
		cfg = t.TLSClientConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"http/1.1"} // the cut request is written as HTTP/1.1 text
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return tc, nil
}
