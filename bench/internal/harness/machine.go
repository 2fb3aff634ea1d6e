package harness

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine describes where a run happened: the figures mean little without it.
type Machine struct {
	NProc     int
	CPU       string
	GoVersion string
	OS        string
	LoadStart string // /proc/loadavg's 1, 5 and 15 minute averages when the run began
	LoadEnd   string
	Start     time.Time
	End       time.Time
	Commit    string // the geminihooks tree measured, as the caller names it
}

func readMachine(now time.Time) Machine {
	return Machine{
		NProc:     runtime.NumCPU(),
		CPU:       cpuModel(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
		LoadStart: loadAvg(),
		Start:     now,
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Markdown renders the machine as a bullet list.
func (m Machine) Markdown() string {
	var b strings.Builder
	if m.Commit != "" {
		fmt.Fprintf(&b, "- geminihooks tree: %s\n", m.Commit)
	}
	fmt.Fprintf(&b, "- `nproc`: %d; CPU: `%s`; `%s` %s\n", m.NProc, m.CPU, m.GoVersion, m.OS)
	fmt.Fprintf(&b, "- run from %s to %s UTC\n", m.Start.UTC().Format("2006-01-02 15:04:05"), m.End.UTC().Format("15:04:05"))
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) at start: %s; at end: %s\n", m.LoadStart, m.LoadEnd)
	return b.String()
}
