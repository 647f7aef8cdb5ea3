package traffic

import (
	"os"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

// TestSwitchWritesItsIntentFirst: the switch records where it is moving
// users before the address moves, so that a switch that fails (here,
// the association refused) still tells the rollback that users may have
// reached the candidate; a retried switch finds the address moved and
// changes nothing.
func TestSwitchWritesItsIntentFirst(t *testing.T) {
	e := steptest.New(t, "switch-traffic", sim.Options{})
	body := []byte("release 2.0.0")
	d := e.Doc(t, "2.0.0", e.Upload(t, e.Key("2.0.0"), body, ""), body, e.Config())
	e.Record(t, d)
	cand := e.Launch(t, map[string]string{release.TagApp: d.App, release.TagRelease: d.ReleaseID})
	e.Region.Advance(e.Test, time.Minute)
	d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: cand}}}
	h := Handler{D: e.Deps}

	e.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "AssociateAddress", Code: "UnauthorizedOperation"})
	if _, err := h.Switch(e.Ctx, d); err == nil {
		t.Fatal("the switch succeeded although the association was refused")
	}
	if got := e.Get(t, d.ReleaseID).SwitchingTo; got != cand {
		t.Errorf("switchingTo %q after a refused switch, want %s written before the attempt", got, cand)
	}
	if got := e.EIPHolder(t); got != e.Fixture.LiveInstance {
		t.Errorf("the Elastic IP is on %s after a refused switch", got)
	}

	sw, err := h.Switch(e.Ctx, d)
	if err != nil || sw.From != e.Fixture.LiveInstance || sw.To != cand || e.EIPHolder(t) != cand {
		t.Fatalf("switch: %+v %v; the address is on %s", sw, err, e.EIPHolder(t))
	}
	again, err := h.Switch(e.Ctx, d)
	if err != nil || again.From != e.Fixture.LiveInstance || again.To != cand {
		t.Errorf("a retried switch: %+v %v, want the same move reported", again, err)
	}
	if n := len(e.Region.CallsTo(sim.ServiceEC2, "AssociateAddress")); n != 2 {
		t.Errorf("AssociateAddress called %d times, want 2 (refused, then moved; the retry moves nothing)", n)
	}
}
