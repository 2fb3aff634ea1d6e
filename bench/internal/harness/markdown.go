package harness

import (
	"fmt"
	"strings"
)

// Section is a generated block of BENCHMARKS.md, kept between the markers
// <!-- bench:Name:begin --> and <!-- bench:Name:end --> so that prose around it survives a rerun.
type Section struct {
	Name string
	Body string
}

func markers(name string) (begin, end string) {
	return "<!-- bench:" + name + ":begin -->", "<!-- bench:" + name + ":end -->"
}

// Splice replaces each section's text between its markers in doc. A section whose markers are missing
// is appended at the end, markers included, so a first run creates them.
func Splice(doc string, sections []Section) (string, error) {
	for _, s := range sections {
		begin, end := markers(s.Name)
		body := strings.TrimRight(s.Body, "\n") + "\n"
		i := strings.Index(doc, begin)
		if i < 0 {
			if doc != "" && !strings.HasSuffix(doc, "\n") {
				doc += "\n"
			}
			doc += "\n" + begin + "\n" + body + end + "\n"
			continue
		}
		j := strings.Index(doc[i:], end)
		if j < 0 {
			return "", fmt.Errorf("harness: section %q has a begin marker and no end marker", s.Name)
		}
		if strings.Count(doc, begin) > 1 {
			return "", fmt.Errorf("harness: section %q appears twice", s.Name)
		}
		doc = doc[:i] + begin + "\n" + body + doc[i+j:]
	}
	return doc, nil
}

// table renders a Markdown table.
func table(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

// dur formats a duration with three significant figures in a unit that suits it.
func dur(d float64) string {
	switch {
	case d < 1e3:
		return fmt.Sprintf("%.0f ns", d)
	case d < 1e6:
		return fmt.Sprintf("%.3g µs", d/1e3)
	case d < 1e9:
		return fmt.Sprintf("%.3g ms", d/1e6)
	default:
		return fmt.Sprintf("%.3g s", d/1e9)
	}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// plural is "1 worker", "8 workers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
