package discover_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/discover"
	"github.com/greenlight/greenlight/internal/release"
)

// TestFromTheListener: behind an ALB, the listener gives the two target
// groups and the live fleet, and the config written is valid in alb mode.
func TestFromTheListener(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{Traffic: release.TrafficALB, Fleet: 2}, nil)
	alb := env.Config.Traffic.ALB
	found, err := discover.Discover(context.Background(), env.Region.Clients(), discover.From{ListenerARN: alb.ListenerARN})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(found.TargetGroupARNs, alb.TargetGroupARNs) || !slices.Equal(found.Instances, env.Fixture.LiveInstances) {
		t.Errorf("found groups %v and instances %v; want %v and %v", found.TargetGroupARNs, found.Instances, alb.TargetGroupARNs, env.Fixture.LiveInstances)
	}
	cfg, _ := found.Config(discover.Answers{App: "shop", HealthPort: 8080, HealthPath: "/healthz", Emails: []string{"ops@example.com"}})
	if !cfg.UsesALB() || cfg.FleetSize() != 2 || cfg.Live.ElasticIPAllocationID != "" {
		t.Errorf("config %+v", cfg)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "greenlight.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := release.LoadConfig(path); err != nil {
		t.Errorf("the config is not valid: %v", err)
	}

	// A listener that does not exist is named.
	if _, err := discover.Discover(context.Background(), env.Region.Clients(), discover.From{ListenerARN: alb.ListenerARN + "0"}); err == nil {
		t.Error("a missing listener was found")
	}
}

func TestAppName(t *testing.T) {
	for name, want := range map[string]string{"shop": "shop", "Shop Web (prod)": "shop-web-prod", "42-api": "api", "": "", "Ünïcode": "n-code"} {
		if got := discover.AppName(name); got != want {
			t.Errorf("AppName(%q) = %q, want %q", name, got, want)
		}
	}
}
