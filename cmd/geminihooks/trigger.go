package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// jwtIssuer is the issuer trigger writes into the JWTs it makes. Gemini's
// own is undocumented; a listener only checks it when told to.
const jwtIssuer = "https://generativelanguage.googleapis.com"

func triggerCommand() *command {
	return &command{
		name:    "trigger",
		summary: "send a realistic signed sample event to a URL",
		usage:   "geminihooks trigger TYPE --to URL (--secret SECRET | --dynamic v1a|jwt) [flags]",
		help: `Sends one sample delivery of event TYPE, shaped like Gemini's, to URL, with
the webhook-id, webhook-timestamp and webhook-signature headers.

It signs with --secret (v1 HMAC, as Gemini signs registered webhooks; give
--secret twice to send two signatures, as during a rotation), or with
--dynamic v1a|jwt, as Gemini signs per-request callbacks. With --dynamic a
key pair is generated (or kept in --key FILE, so it survives runs) and the
JWKS to trust is printed on stdout: public keys only.

--output FILE writes the signed request as a raw HTTP capture instead of
sending it, for 'geminihooks verify'.

Types:
` + indent(wrap(sampleTypeNames(), 74), "  "),
		example: `geminihooks trigger batch.succeeded --to http://127.0.0.1:8080/webhooks/gemini \
    --secret "$GEMINI_WEBHOOK_SECRET" --user-metadata tenant=acme

# A per-request (dynamic) callback signed with a kept Ed25519 key:
geminihooks trigger video.generated --to http://127.0.0.1:8080/webhooks/gemini \
    --dynamic v1a --key dev-key.pem --jwks-out dev-jwks.json`,
		words:  sampleTypeNames(),
		runner: func() runner { return &triggerCmd{meta: metadataFlag{}} },
	}
}

// triggerCmd is `geminihooks trigger TYPE`.
type triggerCmd struct {
	to                        string
	secrets                   secretsFlag
	dynamic, keyFile, jwksOut string
	kid                       string
	meta                      metadataFlag
	jobID, id, output         string
	timeout                   time.Duration
	typ                       event.Type
	sample                    sampleEvent
	target                    *url.URL
}

func (c *triggerCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.to, "to", "", "endpoint `URL` to POST the event to (required)")
	fs.Var(&c.secrets, "secret", "sign v1 (HMAC) with this `SECRET` (whsec_...); repeatable (default $GEMINI_WEBHOOK_SECRET)")
	fs.StringVar(&c.dynamic, "dynamic", "", "sign as a per-request callback with `SCHEME`: v1a (Ed25519) or jwt (RS256)")
	fs.StringVar(&c.keyFile, "key", "", "with --dynamic: private key `FILE` (PEM) to use, created if absent")
	fs.StringVar(&c.jwksOut, "jwks-out", "", "with --dynamic: also write the JWKS to trust to `FILE`")
	fs.StringVar(&c.kid, "kid", "geminihooks-dev", "with --dynamic: key id in the JWKS and JWT header")
	fs.Var(c.meta, "user-metadata", "add `key=value` to the event's user_metadata; repeatable")
	fs.StringVar(&c.jobID, "job-id", "", "job `ID` for data.id (default: a generated one)")
	fs.StringVar(&c.id, "id", "", "webhook-id `ID` (default: a generated one); reuse one to send a duplicate")
	fs.StringVar(&c.output, "output", "", "write the signed request to `FILE` (- for stdout) instead of sending it")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the endpoint's answer")
}

func (c *triggerCmd) validate(e *env, args []string) error {
	typ, err := oneArg(args, "want exactly one event TYPE (one of "+strings.Join(sampleTypeNames(), ", ")+")")
	if err != nil {
		return err
	}
	sample, ok := samples[event.Type(typ)]
	if !ok {
		return usagef("unknown event type %q; want one of %s", printable(typ), strings.Join(sampleTypeNames(), ", "))
	}
	c.typ, c.sample = event.Type(typ), sample
	if c.to == "" {
		return usagef("--to URL is required")
	}
	c.target, err = url.Parse(c.to)
	if err != nil || (c.target.Scheme != "http" && c.target.Scheme != "https") || c.target.Host == "" {
		return usagef("--to must be an absolute http or https URL")
	}
	if len(c.secrets) == 0 && c.dynamic == "" {
		c.secrets = secretsFromEnv(e.getenv("GEMINI_WEBHOOK_SECRET"))
	}
	switch {
	case c.dynamic != "" && len(c.secrets) > 0:
		return usagef("give --secret or --dynamic, not both")
	case c.dynamic == "" && len(c.secrets) == 0:
		return usagef("nothing to sign with: give --secret (or GEMINI_WEBHOOK_SECRET) or --dynamic v1a|jwt")
	case c.dynamic != "" && c.dynamic != "v1a" && c.dynamic != "jwt":
		return usagef("--dynamic must be v1a or jwt")
	case c.dynamic == "" && (c.keyFile != "" || c.jwksOut != ""):
		return usagef("--key and --jwks-out go with --dynamic")
	}
	if c.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	return nil
}

func (c *triggerCmd) run(ctx context.Context, e *env) error {
	// Gemini's timestamps are whole seconds, in the body as in the header.
	now := e.now().Truncate(time.Second)
	job := cmp.Or(c.jobID, c.sample.jobID())
	var meta map[string]any
	if len(c.meta) > 0 {
		meta = c.meta
	}
	body, err := event.Marshal(c.sample.data(job), now, meta)
	if err != nil {
		return fmt.Errorf("building the event: %w", err)
	}
	deliveryID := cmp.Or(c.id, "msg_"+randomID(24))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.target.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if err := c.sign(e, req.Header, deliveryID, now, body); err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "geminihooks-cli")
	if c.output != "" {
		if err := writeCapture(e, c.output, req); err != nil {
			return err
		}
		if c.output != "-" {
			fmt.Fprintf(e.stdout, "wrote %s (webhook-id %s) to %s\n", c.typ, deliveryID, c.output)
		}
		return nil
	}
	return c.send(e, req, deliveryID, job)
}

// sign signs the delivery with --secret, or as a per-request callback
// with --dynamic, printing the JWKS that verifies it.
func (c *triggerCmd) sign(e *env, h http.Header, deliveryID string, now time.Time, body []byte) error {
	if c.dynamic == "" {
		if err := (signing.Signer{Secrets: c.secrets}).Sign(h, deliveryID, now, body); err != nil {
			return usagef("--secret: %v", err)
		}
		return nil
	}
	s, jwks, err := dynamicSigner(c.dynamic, c.keyFile, c.kid, c.target.String())
	if err != nil {
		return err
	}
	if err := s.Sign(h, deliveryID, now, body); err != nil {
		return err
	}
	// With the capture on stdout, the JWKS goes to stderr so the capture
	// can be piped into verify as is.
	w := e.stdout
	if c.output == "-" {
		w = e.stderr
	}
	fmt.Fprintf(w, "JWKS to trust (public keys only; save it and pass it to listen or verify with --jwks-file):\n%s\n", jwks)
	if c.jwksOut != "" {
		return os.WriteFile(c.jwksOut, append(jwks, '\n'), 0o644)
	}
	return nil
}

// send posts the delivery and reports the endpoint's answer; one that is
// not 2xx fails the command.
func (c *triggerCmd) send(e *env, req *http.Request, deliveryID, job string) error {
	// A transport of its own: http.DefaultTransport is shared with the
	// rest of the process, whose CloseIdleConnections (httptest.Server
	// calls it on Close) can break a request that just took an idle
	// connection.
	client := &http.Client{Timeout: c.timeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer client.CloseIdleConnections()
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("sending to %s: %w", c.target.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	elapsed := time.Since(start).Round(time.Millisecond)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(e.stderr, "geminihooks trigger: %s answered %s to %s (webhook-id %s) after %s\n",
			c.target.Redacted(), resp.Status, c.typ, deliveryID, elapsed)
		if s := strings.TrimSpace(string(snippet)); s != "" {
			fmt.Fprintf(e.stderr, "  response: %s\n", printable(s))
		}
		return exitCode(exitFailure)
	}
	fmt.Fprintf(e.stdout, "sent %s (webhook-id %s, job %s) to %s: %s in %s\n",
		c.typ, deliveryID, job, c.target.Redacted(), resp.Status, elapsed)
	return nil
}

// writeCapture writes req as a raw HTTP/1.1 request, the form verify reads.
func writeCapture(e *env, name string, req *http.Request) error {
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return err
	}
	if name == "-" {
		_, err := e.stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(name, buf.Bytes(), 0o600)
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// dynamicSigner returns a signer that signs like a per-request callback,
// and the JWKS that verifies it.
func dynamicSigner(scheme, keyFile, kid, audience string) (signing.Signer, []byte, error) {
	switch scheme {
	case "v1a":
		key, err := loadOrCreateKey(keyFile, func() (any, error) {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			return k, err
		})
		if err != nil {
			return signing.Signer{}, nil, err
		}
		priv, ok := key.(ed25519.PrivateKey)
		if !ok {
			return signing.Signer{}, nil, fmt.Errorf("--key %s holds a %T, want an Ed25519 key for v1a", keyFile, key)
		}
		jwks, err := signing.MarshalJWKS(signing.PublicKey{KID: kid, Key: priv.Public()})
		if err != nil {
			return signing.Signer{}, nil, err
		}
		return signing.Signer{Ed25519: priv}, jwks, nil
	default:
		key, err := loadOrCreateKey(keyFile, func() (any, error) { return rsa.GenerateKey(rand.Reader, 2048) })
		if err != nil {
			return signing.Signer{}, nil, err
		}
		priv, ok := key.(*rsa.PrivateKey)
		if !ok {
			return signing.Signer{}, nil, fmt.Errorf("--key %s holds a %T, want an RSA key for jwt", keyFile, key)
		}
		jwks, err := signing.MarshalJWKS(signing.PublicKey{KID: kid, Key: &priv.PublicKey})
		if err != nil {
			return signing.Signer{}, nil, err
		}
		return signing.Signer{RSA: priv, KID: kid, Issuer: jwtIssuer, Audience: audience}, jwks, nil
	}
}

// loadOrCreateKey reads a PKCS #8 PEM private key from name, or generates
// one and, when name is set, stores it there readable by the owner only.
func loadOrCreateKey(name string, generate func() (any, error)) (any, error) {
	if name != "" {
		raw, err := readBounded(name, 64<<10)
		if err == nil {
			block, _ := pem.Decode(raw)
			if block == nil || block.Type != "PRIVATE KEY" {
				return nil, fmt.Errorf("--key %s: not a PEM \"PRIVATE KEY\" (PKCS #8) file", name)
			}
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("--key %s: %w", name, err)
			}
			return key, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--key: %w", err)
		}
	}
	key, err := generate()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return key, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, fmt.Errorf("--key: %w", err)
	}
	return key, f.Close()
}

// sampleEvent makes realistic data for one event type.
type sampleEvent struct {
	jobID func() string
	data  func(jobID string) event.Data
}

var samples = map[event.Type]sampleEvent{
	event.TypeBatchSucceeded: {batchID, func(id string) event.Data {
		return &event.Batch{Type: event.TypeBatchSucceeded, ID: id, OutputFileURI: "files/" + fileFor(id)}
	}},
	// batch.completed is the legacy name early samples subscribe to.
	event.TypeBatchCompleted: {batchID, func(id string) event.Data {
		return &event.Batch{Type: event.TypeBatchCompleted, ID: id, OutputFileURI: "files/" + fileFor(id)}
	}},
	typePing: {webhookID, func(id string) event.Data {
		raw, _ := json.Marshal(map[string]string{"id": id})
		return &event.Unknown{Type: typePing, Raw: raw}
	}},
	event.TypeBatchFailed: {batchID, func(id string) event.Data {
		return &event.Batch{Type: event.TypeBatchFailed, ID: id, ErrorCode: "3", ErrorMessage: "Invalid JSONL on line 12"}
	}},
	event.TypeBatchExpired:   {batchID, func(id string) event.Data { return &event.Batch{Type: event.TypeBatchExpired, ID: id} }},
	event.TypeBatchCancelled: {batchID, func(id string) event.Data { return &event.Batch{Type: event.TypeBatchCancelled, ID: id} }},
	event.TypeInteractionRequiresAction: {interactionID, func(id string) event.Data {
		return &event.Interaction{Type: event.TypeInteractionRequiresAction, ID: id}
	}},
	event.TypeInteractionCompleted: {interactionID, func(id string) event.Data {
		return &event.Interaction{Type: event.TypeInteractionCompleted, ID: id}
	}},
	event.TypeInteractionFailed: {interactionID, func(id string) event.Data {
		return &event.Interaction{Type: event.TypeInteractionFailed, ID: id, ErrorCode: "INTERNAL", ErrorMessage: "The agent could not complete the task"}
	}},
	event.TypeInteractionCancelled: {interactionID, func(id string) event.Data {
		return &event.Interaction{Type: event.TypeInteractionCancelled, ID: id}
	}},
	event.TypeVideoGenerated: {videoID, func(id string) event.Data {
		f := fileFor(id)
		return &event.Video{
			ID:       id,
			VideoURI: "https://generativelanguage.googleapis.com/v1beta/files/" + f + ":download?alt=media",
			FileName: "files/" + f,
		}
	}},
}

func sampleTypeNames() []string {
	names := make([]string, 0, len(samples))
	for t := range samples {
		names = append(names, string(t))
	}
	sort.Strings(names)
	return names
}

// typePing is the type of the delivery a webhook ping sends (as the
// emulator sends it; Gemini's is undocumented).
const typePing event.Type = "webhook.ping"

func webhookID() string     { return randomID(36) }
func batchID() string       { return "batches/" + randomID(12) }
func interactionID() string { return "v1_" + randomID(32) }
func videoID() string       { return "models/veo-3.1-generate-preview/operations/" + randomID(12) }

// fileFor derives a file name from a job ID, so one job's sample output
// always points at the same file.
func fileFor(jobID string) string {
	if i := strings.LastIndexByte(jobID, '/'); i >= 0 {
		jobID = jobID[i+1:]
	}
	return strings.ToLower(strings.TrimPrefix(jobID, "v1_"))
}

// randomID returns n random lower-case letters and digits 2-7, in the
// style of Gemini's IDs.
func randomID(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(strings.ToLower(rand.Text()))
	}
	return b.String()[:n]
}
