package sim

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"time"
)

// The defaults must equal the reference table of AWS latencies, figure
// for figure; this table restates it.
func TestDefaultLatenciesEqualTheReferenceTable(t *testing.T) {
	l := DefaultLatencies()
	for _, c := range []struct {
		row  string
		got  time.Duration
		want time.Duration
	}{
		{"RunInstances API call returns", l.RunInstancesCall, 1500 * time.Millisecond},
		{"pending → running", l.PendingToRunning, 16 * time.Second},
		{"running → OS network up (port answers)", l.OSBoot, 20 * time.Second},
		{"SSM agent online after running", l.SSMOnline, 45 * time.Second},
		{"both status checks ok after running", l.StatusChecksOK, 150 * time.Second},
		{"CreateVolume from snapshot → available", l.CreateVolume, 10 * time.Second},
		{"AttachVolume → attached", l.AttachVolume, 5 * time.Second},
		{"DetachVolume → available", l.DetachVolume, 8 * time.Second},
		{"snapshot pending → completed (fixed part)", l.SnapshotBase, 20 * time.Second},
		{"SSM SendCommand → invocation finished (overhead)", l.CommandOverhead, 2 * time.Second},
		{"InvocationDoesNotExist after the send", l.InvocationNotFound, time.Second},
		{"AssociateAddress → traffic at the new instance", l.AssociateAddress, 3 * time.Second},
		{"Lambda warm invoke overhead", l.LambdaWarmInvoke, 50 * time.Millisecond},
	} {
		if c.got != c.want {
			t.Errorf("%s: default %v, table says %v", c.row, c.got, c.want)
		}
	}
	if l.SnapshotBytesPerSecond != 100<<20 {
		t.Errorf("snapshot copy rate: default %d B/s, table says 100 MiB/s", l.SnapshotBytesPerSecond)
	}
	// The point in time of a snapshot is fixed at the call: no latency.
	if l.CommandDelivery > l.CommandOverhead {
		t.Errorf("CommandDelivery %v exceeds CommandOverhead %v", l.CommandDelivery, l.CommandOverhead)
	}
}

// Every figure in the table says where it comes from.
func TestEveryLatencyNamesItsSource(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "latency.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Latencies" {
			return true
		}
		found = true
		for _, field := range ts.Type.(*ast.StructType).Fields.List {
			doc := field.Doc.Text()
			if !strings.Contains(doc, "Source") && !strings.Contains(doc, "Estimate") {
				t.Errorf("Latencies.%s has no Source or Estimate in its comment", field.Names[0].Name)
			}
		}
		return false
	})
	if !found {
		t.Fatal("no Latencies struct in latency.go")
	}
}

func TestSnapshotDurationGrowsWithChangedData(t *testing.T) {
	l := DefaultLatencies()
	if got := l.snapshotDuration(0); got != 20*time.Second {
		t.Errorf("no changed data: %v, want 20s", got)
	}
	if got := l.snapshotDuration(1000 << 20); got != 30*time.Second {
		t.Errorf("1000 MiB changed: %v, want 30s", got)
	}
}

func TestClockOnlyMovesForward(t *testing.T) {
	start := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	c := NewClock(start)
	c.Advance(-time.Hour)
	if !c.Now().Equal(start) {
		t.Fatalf("clock went back to %v", c.Now())
	}
	c.AdvanceTo(start.Add(-time.Minute))
	c.Advance(time.Minute)
	if want := start.Add(time.Minute); !c.Now().Equal(want) {
		t.Fatalf("now %v, want %v", c.Now(), want)
	}
}
