package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/geminihooks/geminihooks/emulator/internal/delivery"
	"github.com/geminihooks/geminihooks/signing"
)

// A delivery whose first attempt fails by injection is retried, with the same
// webhook-id, and both attempts show in the log.
func Example() {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("received", r.Header.Get("webhook-id"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"   // generated once for the webhook
	e := delivery.New(delivery.Options{TimeScale: 1e-4}) // a 5s backoff becomes 0.5ms
	defer e.Close()
	e.SetFaults(delivery.Faults{FailFirst: 1})

	err := e.Enqueue(delivery.Delivery{
		ID:   "msg_2Lb7",
		URI:  receiver.URL,
		Body: []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/123"}}`),
		Sign: func(_, id string, ts time.Time, body []byte) (string, error) {
			h := http.Header{}
			err := signing.Signer{Secrets: []string{secret}}.Sign(h, id, ts, body)
			return h.Get(signing.HeaderSignature), err
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := e.Idle(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range e.Attempts() {
		fmt.Println(a.ID, "attempt", a.Number, a.StatusCode, a.Faults)
	}
	// Output:
	// received msg_2Lb7
	// msg_2Lb7 attempt 1 503 [fail]
	// msg_2Lb7 attempt 2 204 []
}

// The attempt log's JSON form, as served at GET /emulator/v1/deliveries.
func ExampleAttempt_MarshalJSON() {
	a := delivery.Attempt{
		ID:         "msg_2Lb7",
		WebhookID:  "k0h9q38f6ejj1g9j7cgcdsauadmbewegl79f",
		URI:        "https://example.com/hooks/gemini",
		Number:     2,
		Start:      time.Date(2026, 5, 4, 12, 0, 5, 0, time.UTC),
		StatusCode: http.StatusServiceUnavailable,
		Latency:    1250 * time.Microsecond,
		Faults:     []delivery.Fault{delivery.FaultFail},
	}
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {
	//   "id": "msg_2Lb7",
	//   "webhook_id": "k0h9q38f6ejj1g9j7cgcdsauadmbewegl79f",
	//   "uri": "https://example.com/hooks/gemini",
	//   "attempt": 2,
	//   "start_time": "2026-05-04T12:00:05Z",
	//   "status_code": 503,
	//   "latency_ms": 1.25,
	//   "ok": false,
	//   "injected": true,
	//   "faults": [
	//     "fail"
	//   ]
	// }
}
