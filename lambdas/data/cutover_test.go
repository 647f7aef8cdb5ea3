package data

import (
	"testing"

	"github.com/greenlight/greenlight/internal/datamove"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// TestCutoverPlansAreOrdered: in every mode and kind, each action's
// prerequisites come before it, or Advance would wait for them forever.
func TestCutoverPlansAreOrdered(t *testing.T) {
	m := datamove.Mover{D: &step.Deps{}, Doc: release.Doc{Config: release.Config{Data: release.DataConfig{Mode: release.DataRestore}}, Candidate: &release.Candidate{}}}
	for _, mode := range []string{release.DataRestore, release.DataMove} {
		for _, kind := range []string{release.KindRelease, release.KindRollback} {
			m.Doc.Config.Data.Mode, m.Doc.Kind = mode, kind
			c := &release.Cutover{Steps: map[string]release.Step{}}
			if err := datamove.Check(cutoverPlan(m, m.Doc, c)); err != nil {
				t.Errorf("%s %s cutover: %v", mode, kind, err)
			}
		}
	}
}
