package prepare

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

// fleetScene is a release behind the fixture's load balancer, whose live
// side is a fleet of three across three zones.
func fleetScene(t *testing.T, edit func(*steptest.Env, *release.Config)) *scene {
	t.Helper()
	s := newScene(t, sim.Options{ALB: true, Zones: 3, LiveFleet: 3, DataVolume: true})
	s.cfg = s.e.BehindALB(s.cfg)
	s.cfg.Region = "eu-west-1"
	s.cfg.Fleet.Size = 3
	if edit != nil {
		edit(s.e, &s.cfg)
	}
	s.upload(t, s.e.Key("2.0.0"), sample(t, "2.0.0"), "")
	return s
}

// TestPrepareFindsTheLiveFleet: the live side is every healthy target of
// the group with the weight, with its subnets (where candidates launch by
// default); an unhealthy one serves no one and is left out.
func TestPrepareFindsTheLiveFleet(t *testing.T) {
	s := fleetScene(t, nil)
	f := s.e.Fixture
	d, err := s.h.Prepare(s.e.Ctx, s.in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Live.IDs(), slices.Sorted(slices.Values(f.LiveInstances)); !slices.Equal(got, want) {
		t.Errorf("live side %v, want %v", got, want)
	}
	if len(d.Live.SubnetIDs) != 3 || d.Live.InstanceID != d.Live.InstanceIDs[0] {
		t.Errorf("live %+v, want three subnets and the first instance described", d.Live)
	}
	if rec := s.e.Get(t, d.ReleaseID); rec.LiveInstance != strings.Join(d.Live.IDs(), ", ") {
		t.Errorf("ledger live %q", rec.LiveInstance)
	}

	s = fleetScene(t, nil)
	sick := s.e.Fixture.LiveInstances[2]
	s.e.Region.Host(sick).StopApp()
	s.e.Region.Advance(s.e.Test, 2*time.Minute) // failed health checks mark it unhealthy
	d, err = s.h.Prepare(s.e.Ctx, s.in)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(d.Live.IDs(), sick) || len(d.Live.IDs()) != 2 {
		t.Errorf("live side %v, want the two healthy instances without %s", d.Live.IDs(), sick)
	}
}

// TestPrepareRefusesAFleetItCannotRelease: a target group with no healthy
// instance (the site is down), and a data volume for a live side of
// several, are refused before anything is created or locked.
func TestPrepareRefusesAFleetItCannotRelease(t *testing.T) {
	s := fleetScene(t, nil)
	for _, id := range s.e.Fixture.LiveInstances {
		s.e.Region.Host(id).StopApp()
	}
	s.e.Region.Advance(s.e.Test, 2*time.Minute)
	_, err := s.h.Prepare(s.e.Ctx, s.in)
	var nf release.LiveNotFound
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "no instance is healthy") {
		t.Errorf("all unhealthy: %v, want LiveNotFound", err)
	}
	if holder := s.e.Lock(t); holder != "" {
		t.Errorf("a refused release holds the lock (%s)", holder)
	}

	s = fleetScene(t, func(e *steptest.Env, c *release.Config) {
		*c = e.WithData(*c, release.DataMove)
		c.Fleet.Size = 1
		c.Traffic.Steps = []int{100}
	})
	_, err = s.h.Prepare(s.e.Ctx, s.in)
	var cm release.ConfigMismatch
	if !errors.As(err, &cm) || !strings.Contains(err.Error(), "moves one data volume to one instance") {
		t.Errorf("data with a live fleet: %v, want ConfigMismatch", err)
	}
	if holder := s.e.Lock(t); holder != "" {
		t.Errorf("a refused release holds the lock (%s)", holder)
	}
}
