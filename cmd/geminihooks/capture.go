package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxCaptureBytes bounds what verify reads from a file or stdin: a request
// line, headers and a body well above the listener's default 1 MiB limit.
const maxCaptureBytes = 16 << 20

var errBadCapture = errors.New("not a raw HTTP request")

// capture is a delivery read back from a raw HTTP/1.x request dump.
type capture struct {
	method, target string
	header         http.Header
	body           []byte
	// bodyToEOF is set when the request declared no length and the body was
	// taken to the end of the input, as hand-made captures often do.
	bodyToEOF bool
	// trailing counts bytes left after a body of declared length.
	trailing int
}

// readCapture parses a raw HTTP/1.x request (as sent on the wire, or as
// written by `trigger --output`). The input is untrusted: its size is
// bounded, and every malformation is an error wrapping errBadCapture.
func readCapture(r io.Reader) (*capture, error) {
	return readCaptureLimit(r, maxCaptureBytes)
}

// readCaptureLimit is readCapture with the size bound as a parameter.
func readCaptureLimit(r io.Reader, limit int64) (*capture, error) {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	br := bufio.NewReader(lr)
	// Tolerate blank lines before the request line, which copy and paste
	// often leaves behind.
	for {
		b, err := br.Peek(1)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: the input is empty", errBadCapture)
			}
			return nil, err
		}
		if b[0] != '\r' && b[0] != '\n' {
			break
		}
		_, _ = br.ReadByte()
	}
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadCapture, err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the body is shorter than its Content-Length (%d bytes); was the capture cut off?",
				errBadCapture, req.ContentLength)
		}
		return nil, fmt.Errorf("%w: reading the body: %v", errBadCapture, err)
	}
	c := &capture{method: req.Method, target: req.RequestURI, header: req.Header, body: body}
	rest, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("%w: the input is larger than %d bytes", errBadCapture, limit)
	}
	if len(req.TransferEncoding) == 0 && len(req.Header.Values("Content-Length")) == 0 {
		c.body, c.bodyToEOF = rest, len(rest) > 0
	} else {
		c.trailing = len(bytes.TrimRight(rest, "\r\n"))
	}
	return c, nil
}

// describeLength says where the body's length came from, for the report.
func (c *capture) describeLength() string {
	switch {
	case c.bodyToEOF:
		return strconv.Itoa(len(c.body)) + " bytes (no Content-Length: read to the end of the input)"
	default:
		return strconv.Itoa(len(c.body)) + " bytes"
	}
}
