package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// verify's exit codes: each failed check has its own, so a script can tell
// them apart. Documented in the command's help; keep the two in step.
const (
	exitVerifyBadCapture      = 3
	exitVerifyMissingHeader   = 4
	exitVerifyInvalidHeader   = 5
	exitVerifyTimestamp       = 6
	exitVerifyNoMatch         = 7
	exitVerifyUnknownKey      = 8
	exitVerifyKeysUnavailable = 9
)

const (
	// headerTimestamp is the Standard Webhooks header that carries a delivery's
	// signing time, in unix seconds; signing.Signer sets it.
	headerTimestamp = "webhook-timestamp"
	// defaultTolerance is signing's default, spelled out for --tolerance.
	defaultTolerance = 5 * time.Minute
	// maxJWKSFile bounds a --jwks-file, as signing bounds a JWKS document.
	maxJWKSFile = 1 << 20
)

// isUnixSeconds reports whether a webhook-timestamp is decimal unix seconds,
// as signing reads it: digits only, no sign, no spaces, at most 18 of them.
func isUnixSeconds(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func verifyCommand() *command {
	return &command{
		name:    "verify",
		summary: "say whether a captured delivery verifies, or which check fails",
		usage:   "geminihooks verify [--secret SECRET]... [--jwks-url URL | --jwks-file FILE] [flags] [FILE|-]",
		help: `Reads one captured raw HTTP request (from FILE, or stdin when FILE is - or
absent) and verifies its webhook-signature the way a listener would: v1
(HMAC, with --secret), v1a (Ed25519) and RS256 JWT (with --jwks-url or
--jwks-file). It prints which scheme and key verified it, or exactly which
check failed and why. Secrets and signatures are never printed.

Exit codes:
  0  valid
  1  could not run (file unreadable, and the like)
  2  bad flags or arguments
  3  the input is not a raw HTTP/1.x request
  4  a webhook-id, webhook-timestamp or webhook-signature header is missing
  5  a header is malformed (for example a timestamp that is not unix seconds)
  6  the timestamp is outside the tolerance (the report says by how much)
  7  no signature matches the secrets or keys given
  8  a JWT names a key id (kid) that is not in the key set
  9  the key set could not be fetched`,
		example: `# A capture made with trigger --output, checked with the same secret:
geminihooks trigger batch.succeeded --to http://127.0.0.1:8080/webhooks/gemini \
    --secret "$GEMINI_WEBHOOK_SECRET" --output capture.http
geminihooks verify --secret "$GEMINI_WEBHOOK_SECRET" capture.http; echo "exit $?"`,
		runner: func() runner { return &verifyCmd{} },
	}
}

// verifyCmd is `geminihooks verify [FILE|-]`.
type verifyCmd struct {
	secrets                     secretsFlag
	jwksURL, jwksFile, audience string
	tolerance                   time.Duration
	at                          string
	input                       []string // FILE, when given; stdin otherwise or for -
	now                         time.Time
}

func (c *verifyCmd) flags(fs *flag.FlagSet) {
	fs.Var(&c.secrets, "secret", "signing `SECRET` (whsec_...) for v1 signatures; repeatable (default $GEMINI_WEBHOOK_SECRET, comma-separated)")
	fs.StringVar(&c.jwksURL, "jwks-url", "", "JWKS `URL` for v1a and JWT signatures, such as "+signing.GeminiJWKSURL)
	fs.StringVar(&c.jwksFile, "jwks-file", "", "JWKS `FILE` for v1a and JWT signatures (as printed by trigger --dynamic)")
	fs.StringVar(&c.audience, "audience", "", "require this JWT audience (the endpoint URL the token was made for)")
	fs.DurationVar(&c.tolerance, "tolerance", defaultTolerance, "allowed clock skew in either direction")
	fs.StringVar(&c.at, "at", "", "verify as of this `TIME` (RFC 3339 or unix seconds) instead of now, for old captures")
}

func (c *verifyCmd) validate(e *env, args []string) error {
	if len(args) > 1 {
		return usagef("want at most one FILE, got %d arguments", len(args))
	}
	c.input = args
	if len(c.secrets) == 0 {
		c.secrets = secretsFromEnv(e.getenv("GEMINI_WEBHOOK_SECRET"))
	}
	if len(c.secrets) == 0 && c.jwksURL == "" && c.jwksFile == "" {
		return usagef("nothing to verify with: give --secret (or GEMINI_WEBHOOK_SECRET), --jwks-url or --jwks-file")
	}
	if c.tolerance <= 0 {
		return usagef("--tolerance must be positive")
	}
	c.now = e.now()
	if c.at != "" {
		t, err := parseTime(c.at)
		if err != nil {
			return usagef("--at: %v", err)
		}
		c.now = t
	}
	return nil
}

// run reads the capture and reports on it; a failed check exits with its
// own code.
func (c *verifyCmd) run(ctx context.Context, e *env) error {
	capt, err := c.readCapture(e)
	if err != nil {
		return err
	}
	keys, err := loadKeySet(c.jwksURL, c.jwksFile, nil)
	if err != nil {
		return usagef("%v", err)
	}
	vr := &verification{
		capt:      capt,
		secrets:   c.secrets,
		keys:      keys,
		audience:  c.audience,
		tolerance: c.tolerance,
		now:       c.now,
	}
	if code := vr.report(ctx, e); code != exitOK {
		return exitCode(code)
	}
	return nil
}

// readCapture reads the capture from the file, or from stdin.
func (c *verifyCmd) readCapture(e *env) (*capture, error) {
	var in io.Reader = e.stdin
	name := "stdin"
	if len(c.input) == 0 && isTerminal(e.stdin) {
		e.status("reading a raw HTTP request from stdin; end it with Ctrl-D (or give a FILE)")
	}
	if len(c.input) == 1 && c.input[0] != "-" {
		f, err := os.Open(c.input[0])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in, name = f, c.input[0]
	}
	capt, err := readCapture(in)
	if errors.Is(err, errBadCapture) {
		fmt.Fprintf(e.stderr, "geminihooks verify: %s: %v\n", name, err)
		return nil, exitCode(exitVerifyBadCapture)
	}
	if err != nil {
		return nil, fileError("reading", name, err)
	}
	return capt, nil
}

// verification is one verify run: the capture and what to check it with.
type verification struct {
	capt      *capture
	secrets   []string
	keys      signing.KeySet
	audience  string
	tolerance time.Duration
	now       time.Time
}

func (v *verification) verifier(at time.Time, secrets []string, keys signing.KeySet) (*signing.Verifier, error) {
	cfg := &signing.Config{Secrets: secrets, Keys: keys, Tolerance: v.tolerance, Now: func() time.Time { return at }}
	if v.audience != "" {
		cfg.Audience = []string{v.audience}
	}
	return signing.NewVerifier(cfg)
}

// report verifies and writes the verdict: details of a valid delivery on
// stdout, the failed check on stderr. It returns the exit code.
func (v *verification) report(ctx context.Context, e *env) int {
	h := v.capt.header
	invalid := func(code int, format string, a ...any) int {
		fmt.Fprintf(e.stderr, "invalid: %s\n", fmt.Sprintf(format, a...))
		return code
	}
	for _, name := range []string{signing.HeaderID, headerTimestamp, signing.HeaderSignature} {
		if strings.TrimSpace(h.Get(name)) == "" {
			return invalid(exitVerifyMissingHeader, "missing header %s", name)
		}
	}
	if !isUnixSeconds(h.Get(headerTimestamp)) {
		return invalid(exitVerifyInvalidHeader, "malformed header: %s is not decimal unix seconds", headerTimestamp)
	}
	sigs := parseSignatureEntries(h.Values(signing.HeaderSignature))

	mv, err := v.verifier(v.now, v.secrets, v.keys)
	if err != nil {
		fmt.Fprintf(e.stderr, "geminihooks verify: %v\n", err)
		return exitUsage
	}
	scheme, err := mv.Verify(ctx, h, v.capt.body)
	if err == nil {
		return v.printValid(e, scheme, sigs)
	}
	switch {
	case errors.Is(err, signing.ErrStaleTimestamp):
		return invalid(exitVerifyTimestamp, "%s", v.skewReport(ctx))
	case errors.Is(err, signing.ErrUnknownKey):
		kids := sigs.kids()
		if len(kids) == 0 {
			return invalid(exitVerifyUnknownKey, "the signing key is not in the key set (%v)", err)
		}
		return invalid(exitVerifyUnknownKey, "unknown key id (kid) %s: not in the key set", strings.Join(quoteAll(kids), ", "))
	case errors.Is(err, signing.ErrKeySetUnavailable):
		return invalid(exitVerifyKeysUnavailable, "the key set could not be fetched: %v", err)
	case errors.Is(err, signing.ErrNoMatchingSignature):
		fmt.Fprintf(e.stderr, "invalid: no matching signature: the header carries %s; none matches %s\n",
			sigs.summary(), v.trustSummary())
		if err.Error() != signing.ErrNoMatchingSignature.Error() {
			fmt.Fprintf(e.stderr, "  why: %s\n", strings.TrimPrefix(err.Error(), signing.ErrNoMatchingSignature.Error()+": "))
		}
		for _, hint := range v.noMatchHints(sigs) {
			fmt.Fprintf(e.stderr, "  hint: %s\n", hint)
		}
		return exitVerifyNoMatch
	default:
		fmt.Fprintf(e.stderr, "geminihooks verify: %v\n", err)
		return exitFailure
	}
}

func (v *verification) printValid(e *env, scheme signing.Scheme, sigs signatureEntries) int {
	w := e.stdout
	by := ""
	switch scheme {
	case signing.SchemeHMAC:
		by = " with " + v.whichSecret()
	case signing.SchemeJWT:
		if kids := sigs.kids(); len(kids) == 1 {
			by = " with key " + strconv.Quote(kids[0])
		}
	}
	fmt.Fprintf(w, "valid: %s signature%s\n", describeScheme(scheme), by)
	fmt.Fprintf(w, "  webhook-id:  %s\n", printable(v.capt.header.Get(signing.HeaderID)))
	if ts, err := strconv.ParseInt(strings.TrimSpace(v.capt.header.Get(headerTimestamp)), 10, 64); err == nil {
		t := time.Unix(ts, 0).UTC()
		fmt.Fprintf(w, "  timestamp:   %s (%s; tolerance %s)\n", t.Format(time.RFC3339), describeSkew(v.now.Sub(t)), v.tolerance)
	}
	fmt.Fprintf(w, "  body:        %s\n", v.capt.describeLength())
	if ev, err := event.Parse(v.capt.body); err == nil {
		job := ev.JobID
		if job == "" {
			job = "(none)"
		}
		fmt.Fprintf(w, "  event:       %s, job %s\n", printable(string(ev.Type)), printable(job))
	} else {
		fmt.Fprintf(w, "  event:       not a Gemini event (%v)\n", err)
	}
	return exitOK
}

// whichSecret names the secret that matched by its position, never its value.
func (v *verification) whichSecret() string {
	if len(v.secrets) == 1 {
		return "the secret given"
	}
	for i, s := range v.secrets {
		hv, err := v.verifier(v.now, []string{s}, nil)
		if err != nil {
			continue
		}
		if _, err := hv.Verify(context.Background(), v.capt.header, v.capt.body); err == nil {
			return fmt.Sprintf("secret %d of %d", i+1, len(v.secrets))
		}
	}
	return "one of the secrets given"
}

// skewReport says how far the timestamp is from now, and whether the
// signature would match at the time it claims: then the clock is the only
// problem, which is worth knowing when debugging a capture.
func (v *verification) skewReport(ctx context.Context) string {
	raw := strings.TrimSpace(v.capt.header.Get(headerTimestamp))
	ts, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return "timestamp outside the tolerance"
	}
	signed := time.Unix(ts, 0)
	skew := v.now.Sub(signed)
	msg := fmt.Sprintf("timestamp skew: signed %s, outside the tolerance of %s", describeSkew(skew), v.tolerance)
	if mv, err := v.verifier(signed, v.secrets, v.keys); err == nil {
		if _, err := mv.Verify(ctx, v.capt.header, v.capt.body); err == nil {
			msg += "; the signature itself matches (use --at " + raw + " to check an old capture)"
		} else {
			msg += "; the signature does not match either"
		}
	}
	return msg
}

func (v *verification) trustSummary() string {
	var parts []string
	if n := len(v.secrets); n == 1 {
		parts = append(parts, "the secret given")
	} else if n > 1 {
		parts = append(parts, fmt.Sprintf("the %d secrets given", n))
	}
	if v.keys != nil {
		parts = append(parts, "the key set given")
	}
	return strings.Join(parts, " or ")
}

func (v *verification) noMatchHints(sigs signatureEntries) []string {
	var hints []string
	if sigs.count["v1"] > 0 && len(v.secrets) == 0 {
		hints = append(hints, "v1 signatures are HMAC: verify them with --secret")
	}
	if (sigs.count["v1a"] > 0 || sigs.count["jwt"] > 0) && v.keys == nil {
		hints = append(hints, "v1a and JWT signatures are verified with public keys: give --jwks-url or --jwks-file")
	}
	if sigs.count["v1"] > 0 && len(v.secrets) > 0 && (sigs.count["v1a"]+sigs.count["jwt"]) == 0 {
		hints = append(hints, "a v1 signature that does not match means a different secret or a changed body, id or timestamp")
	}
	if v.capt.bodyToEOF && bytes.HasSuffix(v.capt.body, []byte("\n")) {
		hints = append(hints, "the capture has no Content-Length and its body ends with a newline: editors add one, and it changes the signed bytes")
	}
	if v.capt.trailing > 0 {
		hints = append(hints, fmt.Sprintf("%d bytes follow the body's declared Content-Length and were not verified", v.capt.trailing))
	}
	return hints
}

// signatureEntries classifies the webhook-signature entries by their form,
// for the report only: verification itself is the signing package's.
type signatureEntries struct {
	count map[string]int
	jwts  []jwtHeader
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

func parseSignatureEntries(values []string) signatureEntries {
	s := signatureEntries{count: map[string]int{}}
	for _, line := range values {
		for _, entry := range strings.Fields(line) {
			switch {
			case strings.HasPrefix(entry, "v1,"):
				s.count["v1"]++
			case strings.HasPrefix(entry, "v1a,"):
				s.count["v1a"]++
			case strings.Count(entry, ".") == 2:
				s.count["jwt"]++
				var hdr jwtHeader
				seg, _, _ := strings.Cut(entry, ".")
				if raw, err := base64.RawURLEncoding.DecodeString(seg); err == nil && len(raw) < 4096 {
					_ = json.Unmarshal(raw, &hdr) // best effort: a bad header is the verifier's to report
				}
				s.jwts = append(s.jwts, hdr)
			default:
				s.count["unknown"]++
			}
		}
	}
	return s
}

func (s signatureEntries) kids() []string {
	var kids []string
	for _, h := range s.jwts {
		if h.Kid != "" {
			kids = append(kids, printable(h.Kid))
		}
	}
	return kids
}

func (s signatureEntries) summary() string {
	var parts []string
	for _, k := range []string{"v1", "v1a", "jwt", "unknown"} {
		n := s.count[k]
		if n == 0 {
			continue
		}
		name := map[string]string{"v1": "v1 (HMAC)", "v1a": "v1a (Ed25519)", "jwt": "JWT (RS256)", "unknown": "unrecognised"}[k]
		if n == 1 {
			parts = append(parts, "1 "+name+" entry")
		} else {
			parts = append(parts, fmt.Sprintf("%d %s entries", n, name))
		}
	}
	if len(parts) == 0 {
		return "no entries"
	}
	return strings.Join(parts, ", ")
}

func describeScheme(s signing.Scheme) string {
	switch s {
	case signing.SchemeHMAC:
		return "v1 (HMAC-SHA256)"
	case signing.SchemeEd25519:
		return "v1a (Ed25519)"
	case signing.SchemeJWT:
		return "JWT (RS256)"
	}
	return printable(string(s))
}

// describeSkew turns now minus the signing time into words.
func describeSkew(d time.Duration) string {
	dir := " ago"
	if d < 0 {
		d, dir = -d, " in the future"
	}
	s := d.Round(time.Second).String()
	if d >= 48*time.Hour {
		s += fmt.Sprintf(" (%d days)", int(d/(24*time.Hour)))
	}
	return s + dir
}

// parseTime accepts RFC 3339 or decimal unix seconds.
func parseTime(s string) (time.Time, error) {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339 (2026-01-02T15:04:05Z) or unix seconds")
	}
	return t, nil
}

// printable makes untrusted text safe to show on a terminal: control
// characters would let a crafted capture rewrite the screen.
func printable(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	return escapeControl(s)
}

// escapeControl escapes control characters (terminal escape sequences
// among them) in text that came from elsewhere, keeping its length.
func escapeControl(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) < 0 {
		return s
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// loadKeySet builds the key set for dynamic signatures from a URL or a
// file, or returns nil when neither is given. A file is read and parsed now,
// so a broken one is reported before anything else happens; its keys are
// then fixed for the life of the command.
func loadKeySet(jwksURL, file string, cfg *signing.KeySetConfig) (signing.KeySet, error) {
	switch {
	case jwksURL != "" && file != "":
		return nil, errors.New("give --jwks-url or --jwks-file, not both")
	case jwksURL != "":
		if !strings.HasPrefix(jwksURL, "https://") && !strings.HasPrefix(jwksURL, "http://") {
			return nil, errors.New("--jwks-url must be an http(s) URL")
		}
		ks, err := signing.NewRemoteKeySet(jwksURL, cfg)
		if err != nil {
			return nil, fmt.Errorf("--jwks-url: %w", err)
		}
		return ks, nil
	case file != "":
		data, err := readBounded(file, maxJWKSFile)
		if err != nil {
			return nil, fmt.Errorf("--jwks-file: %w", err)
		}
		ks, err := signing.NewStaticKeySet(data)
		if err != nil {
			return nil, fmt.Errorf("--jwks-file %s: %w", file, err)
		}
		return ks, nil
	}
	return nil, nil
}

// fileError names the file a read failed on once: an *fs.PathError
// ("read /tmp/x: is a directory") already does.
func fileError(op, name string, err error) error {
	if _, ok := errors.AsType[*fs.PathError](err); ok {
		return err
	}
	return fmt.Errorf("%s %s: %w", op, name, err)
}

// readBounded reads a local file, refusing one larger than max bytes.
func readBounded(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, max)
	}
	return raw, nil
}
