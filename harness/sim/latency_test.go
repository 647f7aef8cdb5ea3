package sim

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The defaults hold together as the model needs them to: no AWS work is
// instantaneous (a zero figure would let a step find done what it must
// wait and poll for, so the workflows' waits would go untried), a command
// is delivered before it reports back, and the SSM agent comes online no
// sooner than the OS it runs on. The figures themselves are the table's,
// each with its source (TestEveryLatencyNamesItsSource); restating them
// here would check nothing.
func TestDefaultLatenciesHoldTogether(t *testing.T) {
	l := DefaultLatencies()
	v := reflect.ValueOf(l)
	for i := range v.NumField() {
		if f := v.Field(i); f.CanInt() && f.Int() <= 0 {
			t.Errorf("Latencies.%s is %v: every figure must be positive", v.Type().Field(i).Name, f.Interface())
		}
	}
	if l.CommandDelivery > l.CommandOverhead {
		t.Errorf("CommandDelivery %v exceeds CommandOverhead %v", l.CommandDelivery, l.CommandOverhead)
	}
	if l.SSMOnline < l.OSBoot {
		t.Errorf("the SSM agent is online after %v, before the OS is up (%v)", l.SSMOnline, l.OSBoot)
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
	l := Latencies{SnapshotBase: 20 * time.Second, SnapshotBytesPerSecond: 100 << 20}
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
