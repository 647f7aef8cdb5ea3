package infra

import (
	"fmt"

	"github.com/greenlight/greenlight/internal/release"
)

// Supports says whether this version's stack can run releases for cfg.
// The config accepts the ALB traffic mode's settings (validated, with their
// JSON paths) before the workflow drives an ALB: until it does, a stack
// for it would be deployed with an Elastic IP workflow and no Elastic IP,
// so it is refused here, where `make deploy`, `cdk synth` and the local
// engine all pass.
func Supports(cfg release.Config) error {
	if cfg.UsesALB() {
		return fmt.Errorf(`traffic.mode "alb": this version checks the ALB settings, but its release workflow still moves traffic with an Elastic IP only; deploy with traffic.mode "elasticIp" (and live.elasticIpAllocationId) until the ALB workflow lands`)
	}
	return nil
}
