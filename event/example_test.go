package event_test

import (
	"fmt"
	"time"

	"github.com/geminihooks/geminihooks/event"
)

func ExampleParse() {
	body := []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z",` +
		`"data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`)
	ev, err := event.Parse(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	ev.ID = "msg_2b7d" // the receiver copies the webhook-id header
	fmt.Println(ev)
	fmt.Println(ev.JobID, ev.Succeeded(), ev.IsTerminal())
	// Output:
	// event batch.succeeded id=msg_2b7d job=batch_123456 time=2026-01-22T12:00:00Z
	// batch_123456 true true
}

func ExampleEvent_Decode() {
	for _, body := range []string{
		`{"type":"batch.failed","data":{"id":"batches/a","error_code":3,"error_message":"Invalid JSONL"}}`,
		`{"type":"batch.completed","data":{"id":"batches/b","output_file_uri":"files/out"}}`,
		`{"type":"video.generated","data":{"id":"ops/v","file_id":"q7w8"}}`,
		`{"type":"webhook.ping","data":{"id":"k0h9"}}`,
	} {
		ev, err := event.Parse([]byte(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		d, err := ev.Decode()
		if err != nil {
			fmt.Println(err)
			return
		}
		switch d := d.(type) {
		case *event.BatchFailed:
			code, numeric := d.ErrorCode.Int()
			fmt.Println("failed:", d.ID, code, numeric, d.ErrorMessage)
		case *event.BatchSucceeded:
			fmt.Println("succeeded:", d.ID, d.OutputFileURI, "sent as", ev.Type)
		case *event.VideoGenerated:
			fmt.Println("video at", d.Location())
		case *event.Unknown:
			fmt.Printf("unknown %s: %s\n", d.Type, d.Raw)
		}
	}
	// Output:
	// failed: batches/a 3 true Invalid JSONL
	// succeeded: batches/b files/out sent as batch.completed
	// video at files/q7w8
	// unknown webhook.ping: {"id":"k0h9"}
}

func ExampleAs() {
	ev, err := event.Parse([]byte(`{"type":"interaction.failed","data":{"id":"v1_x","error_code":"INTERNAL"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	if f, err := event.As[*event.InteractionFailed](ev); err == nil {
		fmt.Println(f.ID, f.ErrorCode)
	}
	_, err = event.As[*event.InteractionCompleted](ev)
	fmt.Println(err)
	// Output:
	// v1_x INTERNAL
	// event: data type mismatch: interaction.failed event decodes to *event.InteractionFailed, not *event.InteractionCompleted
}

func ExampleMarshal() {
	body, err := event.Marshal(
		&event.BatchFailed{ID: "batches/a", ErrorCode: "3", ErrorMessage: "Invalid JSONL"},
		time.Date(2026, 3, 2, 8, 15, 42, 0, time.UTC),
		map[string]any{"job_group": "nightly"},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(body))
	// Output:
	// {"type":"batch.failed","version":"v1","timestamp":"2026-03-02T08:15:42Z","data":{"id":"batches/a","error_code":3,"error_message":"Invalid JSONL","user_metadata":{"job_group":"nightly"}}}
}

func ExampleType_Canonical() {
	for _, t := range []event.Type{event.TypeBatchCompleted, event.TypeBatchExpired, "webhook.ping"} {
		fmt.Println(t, "->", t.Canonical(), t.Known(), t.Failed(), t.IsTerminal())
	}
	// Output:
	// batch.completed -> batch.succeeded true false true
	// batch.expired -> batch.expired true true true
	// webhook.ping -> webhook.ping false false false
}

func ExampleVideoGenerated_Location() {
	docs := event.VideoGenerated{OutputFileURI: "https://example.com/files/x9:download", FileName: "files/x9"}
	live := event.VideoGenerated{VideoURI: "https://example.com/files/q7:download", FileID: "q7"}
	bare := event.VideoGenerated{FileID: "q7"}
	fmt.Println(docs.Location())
	fmt.Println(live.Location())
	fmt.Println(bare.Location())
	// Output:
	// https://example.com/files/x9:download
	// https://example.com/files/q7:download
	// files/q7
}

func ExampleErrorCode_Int() {
	for _, c := range []event.ErrorCode{"3", "INTERNAL"} {
		n, ok := c.Int()
		fmt.Println(c, n, ok)
	}
	// Output:
	// 3 3 true
	// INTERNAL 0 false
}
