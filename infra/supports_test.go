package infra

import (
	"strings"
	"testing"

	"github.com/greenlight/greenlight/internal/release"
)

// TestTheALBModeIsRefusedUntilItsWorkflowExists: a valid ALB config is
// refused by name before a stack without an Elastic IP could be built for
// it; the Elastic IP example is supported.
func TestTheALBModeIsRefusedUntilItsWorkflowExists(t *testing.T) {
	alb, err := release.LoadConfig("../greenlight.alb.example.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := Supports(alb); err == nil || !strings.Contains(err.Error(), `traffic.mode "alb"`) {
		t.Errorf("the ALB example: %v, want it refused naming traffic.mode", err)
	}
	eip, err := release.LoadConfig("../greenlight.example.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := Supports(eip); err != nil {
		t.Errorf("the Elastic IP example: %v", err)
	}
}
