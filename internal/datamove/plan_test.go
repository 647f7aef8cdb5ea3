package datamove

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// fake is an action that is done after `passes` runs, counting them.
type fake struct {
	passes int
	runs   int
	err    error
}

func (f *fake) run(context.Context, *release.Step) (bool, error) {
	f.runs++
	return f.runs >= f.passes, f.err
}

func TestAdvanceRespectsPrerequisites(t *testing.T) {
	a, b, c := &fake{passes: 2}, &fake{passes: 1}, &fake{passes: 1}
	actions := []Action{{Name: "a", Run: a.run}, {Name: "b", After: []string{"a"}, Run: b.run}, {Name: "c", Run: c.run}}
	steps := map[string]release.Step{}
	done, pending, err := Advance(context.Background(), time.Time{}, steps, actions)
	if err != nil || done || strings.Join(pending, ",") != "a,b" || b.runs != 0 || c.runs != 1 {
		t.Fatalf("pass 1: done %v pending %v, runs a%d b%d c%d", done, pending, a.runs, b.runs, c.runs)
	}
	done, pending, err = Advance(context.Background(), time.Time{}, steps, actions)
	if err != nil || !done || len(pending) != 0 || b.runs != 1 || c.runs != 1 {
		t.Fatalf("pass 2: done %v pending %v, runs a%d b%d c%d", done, pending, a.runs, b.runs, c.runs)
	}
	// A finished plan does nothing more: every action is done.
	if done, _, _ := Advance(context.Background(), time.Time{}, steps, actions); !done || a.runs != 2 {
		t.Fatal("a finished plan ran again")
	}
}

func TestAdvanceStopsAtAnError(t *testing.T) {
	boom := errors.New("boom")
	later := &fake{passes: 1}
	steps := map[string]release.Step{}
	_, _, err := Advance(context.Background(), time.Time{}, steps, []Action{{Name: "a", Run: (&fake{err: boom}).run}, {Name: "b", Run: later.run}})
	if !errors.Is(err, boom) || later.runs != 0 {
		t.Fatalf("err %v, later ran %d times", err, later.runs)
	}
}

func TestCheckFindsMisorderedPlans(t *testing.T) {
	if err := Check([]Action{{Name: "b", After: []string{"a"}}, {Name: "a"}}); err == nil {
		t.Fatal("a prerequisite after its dependant must be refused")
	}
	if err := Check([]Action{{Name: "a"}, {Name: "b", After: []string{"a"}}}); err != nil {
		t.Fatalf("a well-ordered plan: %v", err)
	}
}

// TestAttachNamesTheProblem checks the EBS errors a move can meet come
// back as DataFailed with a sentence an operator can act on.
func TestAttachNamesTheProblem(t *testing.T) {
	for _, c := range []struct{ code, msg, want string }{
		{"InvalidVolume.ZoneMismatch", "The volume is not in the same availability zone as the instance.", "another Availability Zone"},
		{"InvalidParameterValue", "Invalid value '/dev/sdf' for unixDevice. Attachment point /dev/sdf is already in use", "device /dev/sdf is already in use on"},
	} {
		t.Run(c.code, func(t *testing.T) {
			r := sim.NewTest(t, sim.Options{DataVolume: true})
			f := r.Fixture()
			d := &step.Deps{AWS: r.Clients(), Now: r.Now}
			d.Log = step.Logger()
			m := Mover{D: d, Doc: release.Doc{Config: release.Config{Data: release.DataConfig{Device: "/dev/sdf"}}}}
			// A volume free to attach: detach the fixture's data volume first.
			m.Doc.Live.InstanceID = f.LiveInstance
			r.Host(f.LiveInstance).Unmount()
			st := release.Step{}
			vol := func() string { return f.DataVolume }
			if _, err := m.Detach("detach", vol, f.LiveInstance, false)(context.Background(), &st); err != nil {
				t.Fatal(err)
			}
			r.Advance(context.Background(), r.Latencies().DetachVolume)
			r.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "AttachVolume", Code: c.code, Message: c.msg})
			_, err := m.Attach("attach", vol, f.LiveInstance)(context.Background(), &release.Step{})
			var df release.DataFailed
			if !errors.As(err, &df) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want DataFailed saying %q", err, c.want)
			}
		})
	}
}
