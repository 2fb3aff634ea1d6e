package event_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/event"
	"google.golang.org/genai/interactions/models/webhooks"
)

const genaiWebhooksPkg = "google.golang.org/genai/interactions/models/webhooks"

// genaiSubscribedEvents lists genai's enum by name, so a rename or removal
// in genai breaks the build of this test.
var genaiSubscribedEvents = []webhooks.WebhookSubscribedEvent{
	webhooks.WebhookSubscribedEventBatchSucceeded,
	webhooks.WebhookSubscribedEventBatchExpired,
	webhooks.WebhookSubscribedEventBatchFailed,
	webhooks.WebhookSubscribedEventInteractionRequiresAction,
	webhooks.WebhookSubscribedEventInteractionCompleted,
	webhooks.WebhookSubscribedEventInteractionFailed,
	webhooks.WebhookSubscribedEventVideoGenerated,
}

// TestGenaiParity asserts that every value of genai's subscribed-event enum
// has a constant here.
func TestGenaiParity(t *testing.T) {
	t.Parallel()
	for _, v := range genaiSubscribedEvents {
		if !v.IsExact() {
			t.Errorf("genai does not call %q exact; the list above is stale", v)
		}
		if _, ok := event.Lookup(event.Type(v)); !ok || !slices.Contains(slices.Collect(func(yield func(event.Type) bool) {
			for ti := range event.Types() {
				if !yield(ti.Type) {
					return
				}
			}
		}), event.Type(v)) {
			t.Errorf("genai's %q has no constant in package event", v)
		}
	}
	// The names above cannot show that genai added a value, since the enum
	// has no list; read the constants from genai's source instead.
	fromSource := subscribedEventsInSource(t)
	var listed []string
	for _, v := range genaiSubscribedEvents {
		listed = append(listed, string(v))
	}
	slices.Sort(listed)
	if !slices.Equal(fromSource, listed) {
		t.Errorf("genai's source declares %q, this test lists %q: add the new values to event and to this test", fromSource, listed)
	}
}

// subscribedEventsInSource returns, sorted, the string values of every
// constant of type WebhookSubscribedEvent in the genai package used by this
// build (found through the go command, so it is the pinned version).
func subscribedEventsInSource(t *testing.T) []string {
	t.Helper()
	pkg, err := build.Import(genaiWebhooksPkg, ".", build.FindOnly)
	if err != nil {
		t.Fatalf("locating %s: %v", genaiWebhooksPkg, err)
	}
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(pkg.Dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "WebhookSubscribedEvent" {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: unexpected constant form %T", fset.Position(v.Pos()), v)
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					values = append(values, s)
				}
			}
		}
	}
	if len(values) == 0 {
		t.Fatalf("found no WebhookSubscribedEvent constants in %s", pkg.Dir)
	}
	slices.Sort(values)
	return values
}
