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
	ti, _ := event.Lookup(ev.Type)
	fmt.Println(ev.JobID, ti.Succeeded, ti.Terminal)
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
		case *event.Batch:
			if d.Type == event.TypeBatchFailed {
				fmt.Println("failed:", d.ID, d.ErrorCode, d.ErrorMessage)
				continue
			}
			fmt.Println(d.Type+":", d.ID, d.OutputFileURI, "sent as", ev.Type)
		case *event.Video:
			fmt.Println("video at", d.Location())
		case *event.Unknown:
			fmt.Printf("unknown %s: %s\n", d.Type, d.Raw)
		}
	}
	// Output:
	// failed: batches/a 3 Invalid JSONL
	// batch.succeeded: batches/b files/out sent as batch.completed
	// video at files/q7w8
	// unknown webhook.ping: {"id":"k0h9"}
}

func ExampleAs() {
	ev, err := event.Parse([]byte(`{"type":"interaction.failed","data":{"id":"v1_x","error_code":"INTERNAL"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	if f, err := event.As[*event.Interaction](ev); err == nil {
		fmt.Println(f.Type, f.ID, f.ErrorCode)
	}
	_, err = event.As[*event.Batch](ev)
	fmt.Println(err)
	// Output:
	// interaction.failed v1_x INTERNAL
	// event: data type mismatch: interaction.failed event decodes to *event.Interaction, not *event.Batch
}

func ExampleMarshal() {
	body, err := event.Marshal(
		&event.Batch{Type: event.TypeBatchFailed, ID: "batches/a", ErrorCode: "3", ErrorMessage: "Invalid JSONL"},
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

func ExampleLookup() {
	for _, t := range []event.Type{event.TypeBatchCompleted, event.TypeBatchExpired, "webhook.ping"} {
		ti, known := event.Lookup(t)
		fmt.Println(t, "->", ti.Canonical, known, ti.Job, ti.Failed, ti.Terminal)
	}
	// Output:
	// batch.completed -> batch.succeeded true batch false true
	// batch.expired -> batch.expired true batch true true
	// webhook.ping -> webhook.ping false  false false
}

func ExampleTypes() {
	// Each event a webhook can subscribe to, once: the alias is left out.
	for ti := range event.Types() {
		if ti.Canonical == ti.Type && ti.Job == "batch" {
			fmt.Println(ti.Type, ti.Terminal)
		}
	}
	// Output:
	// batch.succeeded true
	// batch.expired true
	// batch.failed true
	// batch.cancelled true
}

func ExampleJobKey() {
	a, _ := event.Parse([]byte(`{"type":"batch.succeeded","data":{"id":"batches/1"}}`))
	b, _ := event.Parse([]byte(`{"type":"batch.completed","data":{"id":"batches/1"}}`))
	fmt.Println(event.JobKey(a) == event.JobKey(b), event.JobKey(&event.Event{Type: "webhook.ping", JobID: "x"}) == "")
	// Output:
	// true true
}

func ExampleVideo_Location() {
	docs := event.Video{OutputFileURI: "https://example.com/files/x9:download", FileName: "files/x9"}
	live := event.Video{VideoURI: "https://example.com/files/q7:download", FileID: "q7"}
	bare := event.Video{FileID: "q7"}
	fmt.Println(docs.Location())
	fmt.Println(live.Location())
	fmt.Println(bare.Location())
	// Output:
	// https://example.com/files/x9:download
	// https://example.com/files/q7:download
	// files/q7
}
